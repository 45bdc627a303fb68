"""Parsing of COURIER_API_TOKENS and the metrics token check."""

from __future__ import annotations

import hashlib

import pytest

from courier_http.auth import bearer, metrics_token_ok, parse_tokens


def test_parses_plain_and_hashed_secrets_keeping_only_digests() -> None:
    hashed = hashlib.sha256(b"s3cret").hexdigest()
    tokens = parse_tokens(f"ops:write:hunter2, viewer:read:sha256={hashed}")
    by_name = {t.name: t for t in tokens.values()}
    assert by_name["ops"].scope == "write" and by_name["viewer"].scope == "read"
    assert hashlib.sha256(b"hunter2").digest() in tokens
    assert hashlib.sha256(b"s3cret").digest() in tokens
    assert "hunter2" not in repr(tokens)


def test_no_tokens_means_no_authentication() -> None:
    assert parse_tokens(None) == {}
    assert parse_tokens(" , ") == {}


@pytest.mark.parametrize(
    "text", ["ops:admin:x", "ops:write:", ":read:x", "ops", "ops:read:sha256=zz", "a:read:sha256=ab"]
)
def test_refuses_malformed_tokens_without_echoing_secrets(text: str) -> None:
    with pytest.raises(ValueError, match="token 1") as caught:
        parse_tokens(text)
    assert "zz" not in str(caught.value)


def test_bearer_and_metrics_token() -> None:
    scope = {"headers": [(b"authorization", b"Bearer abc")]}
    assert bearer(scope) == "abc"
    assert bearer({"headers": [(b"authorization", b"Basic abc")]}) is None
    assert metrics_token_ok(None, {"headers": []})
    assert metrics_token_ok("abc", scope)
    assert not metrics_token_ok("abd", scope)
    assert not metrics_token_ok("abc", {"headers": []})
