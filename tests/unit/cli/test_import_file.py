"""Import files: format, record count, the file line of each CSV row, and API errors located in the file."""

from pathlib import Path

import pytest

from services.correlator.cmdb_import import ImportInvalid, cis_from_csv
from triage_cli import import_file
from triage_cli.exits import Exit, Failure


def test_format_from_extension_or_flag():
    assert import_file.format_of(Path("a.CSV"), None) == "csv"
    assert import_file.format_of(Path("a.txt"), "json") == "json"
    with pytest.raises(Failure) as caught:
        import_file.format_of(Path("a.txt"), None)
    assert caught.value.code == Exit.USAGE


def test_csv_row_lines_skip_header_and_blank_lines_and_follow_quoted_newlines():
    body = b'\xef\xbb\xbfid,name,class\nh1,a,host\n\nh2,"two\nlines",host\n\r\nh3,c,host\nh4,d,host'
    assert import_file.csv_row_lines(body) == (2, 4, 7, 8)
    assert import_file.csv_row_lines(b"") == ()
    assert import_file.csv_row_lines(b"id,class\n") == ()


def test_csv_rows_are_counted_as_the_correlator_counts_them():
    """Same row index for the same bad row: the CLI's line map and the API's parser agree."""
    body = b'id,class,criticality\na,host,1\n\nb,host,2\n"c\n",host,3\nd,host,x\n'
    with pytest.raises(ImportInvalid) as caught:
        cis_from_csv(body)
    row, _ = import_file.row_of(caught.value.field)
    assert row == 3 and import_file.csv_row_lines(body)[row] == 7


def test_read_counts_records(tmp_path):
    (tmp_path / "c.csv").write_text("id,class\na,host\nb,host\n")
    (tmp_path / "c.json").write_text('[{"id": "a"}, {"id": "b"}, {"id": "c"}]')
    csv_file = import_file.read(tmp_path / "c.csv", None)
    assert (csv_file.records, csv_file.lines, csv_file.content_type) == (2, (2, 3), "text/csv")
    json_file = import_file.read(tmp_path / "c.json", None)
    assert (json_file.records, json_file.content_type) == (3, "application/json")


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("[12].criticality", (12, "criticality")),
        ("[3]", (3, "")),
        ("[0].relationships[1].target", (0, "relationships[1].target")),
        ("header", (None, "header")),
        ("body", (None, "body")),
    ],
)
def test_row_of(field, expected):
    assert import_file.row_of(field) == expected


def test_located_errors_name_the_file_line_and_row():
    f = import_file.ImportFile(Path("cis.csv"), "csv", b"", 3, (2, 3, 5))
    fields = [
        ("[2].criticality", "'x' is not an integer 1..5"),
        ("[1]", "CSV line 3: 2 columns"),
        ("header", "missing"),
    ]
    assert import_file.located(f, fields) == [
        "cis.csv:5: row 2: criticality: 'x' is not an integer 1..5",
        "cis.csv:3: row 1: CSV line 3: 2 columns",
        "cis.csv: header: missing",
    ]
    j = import_file.ImportFile(Path("ke.json"), "json", b"", 2)
    assert import_file.located(j, [("[1].matchers[0].regex", "invalid")], "item") == [
        "ke.json: item 1: matchers[0].regex: invalid"
    ]
