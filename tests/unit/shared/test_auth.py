import pytest

from services.shared.auth import TokenConfigError, TokenRegistry

SECRET = "s3cret-s3cret-s3cret"


def test_tokens_from_env_and_file(tmp_path):
    f = tmp_path / "tokens"
    f.write_text(f"# comment\ngrafana:{SECRET}-g:ingest\n")
    reg = TokenRegistry.load(f"ops:{SECRET}:read+write,bot:{SECRET}-b:admin", str(f))
    assert len(reg) == 3
    ops = reg.authenticate(SECRET)
    assert ops.name == "ops" and ops.allows("read") and not ops.allows("ingest")
    assert reg.authenticate(f"{SECRET}-b").allows("ingest")  # admin may do anything
    assert reg.authenticate(f"{SECRET}-g").scopes == {"ingest"}
    assert reg.authenticate("nope") is None
    assert reg.authenticate("") is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("justname", "expected name:secret:scopes"),
        (f"a:{SECRET}:superuser", "unknown scope"),
        ("a:short:read", "shorter than 16"),
        (f"a:{SECRET}:read,a:{SECRET}x:read", "unique"),
    ],
)
def test_bad_configuration_is_refused_with_a_reason(entry, message):
    with pytest.raises(TokenConfigError, match=message):
        TokenRegistry.load(entry, None)


def test_errors_never_include_the_secret():
    with pytest.raises(TokenConfigError) as info:
        TokenRegistry.load(f"a:{SECRET}:bogus", None)
    assert SECRET not in str(info.value)
