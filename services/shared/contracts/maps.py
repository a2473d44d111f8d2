"""Copying protobuf map fields (labels, annotations) on the hot paths.

upb's map containers take their `update`, `items` and dict conversion from the collections.abc mixins, written
in Python, which check and copy at about twice the cost of a loop over the keys."""

from collections.abc import Mapping, MutableMapping


def fill(into: MutableMapping[str, str], pairs: Mapping[str, str] | None) -> None:
    """into.update(pairs), key by key."""
    for key, value in (pairs or {}).items():
        into[key] = value


def as_dict(pairs: Mapping[str, str]) -> dict[str, str]:
    """dict(pairs) of a protobuf map."""
    return {key: pairs[key] for key in pairs}
