"""No password survives redaction, in any form a libpq connection string takes."""

import pytest

from courier_adapters.postgres.errors import redact_url
from courier_adapters.settings import load_settings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:s3cret@h:5432/db", "postgresql://u:***@h:5432/db"),
        (
            "postgresql://h/db?sslmode=require&password=s3cret",
            "postgresql://h/db?sslmode=require&password=***",
        ),
        (
            "postgresql://h/db?password=s3cret&sslmode=require",
            "postgresql://h/db?password=***&sslmode=require",
        ),
        ("host=h password=s3cret dbname=db", "host=h password=*** dbname=db"),
        ("host=h password = 'with space' dbname=db", "host=h password = *** dbname=db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_passwords_are_masked(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert "s3cret" not in redact_url(url) and "with space" not in redact_url(url)


def test_settings_never_show_the_password() -> None:
    settings = load_settings(
        {"COURIER_DATABASE_URL": "postgresql://h/db?password=s3cret", "COURIER_API_TOKENS": "a:read:t0ken"},
        dotenv=None,
    )
    assert "s3cret" not in repr(settings) and "t0ken" not in repr(settings)
