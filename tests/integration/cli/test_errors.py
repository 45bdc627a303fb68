"""Failures that are not the domain's: an unreachable database (exit 3) and a bad configuration (exit 2)."""

from __future__ import annotations

import socket

from tests.integration.cli.conftest import Cli, single_line_error


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there once the socket is closed


def test_unreachable_database_exits_3_with_one_line_and_no_secret(cli: Cli) -> None:
    url = f"postgresql://courier:s3cr3t-pw@127.0.0.1:{_closed_port()}/courier"
    for args in (("couriers", "list"), ("delivery", "assign", "o-1"), ("db", "current"), ("db", "upgrade")):
        result = cli(*args, env={"COURIER_DATABASE_URL": url})
        assert result.exit_code == 3, (args, result.stderr)
        line = single_line_error(result)
        assert line.startswith("error: database unavailable"), line
        assert "s3cr3t-pw" not in result.stderr + result.stdout


def test_debug_shows_the_traceback(cli: Cli) -> None:
    url = f"postgresql://courier:s3cr3t-pw@127.0.0.1:{_closed_port()}/courier"
    result = cli("--debug", "couriers", "list", env={"COURIER_DATABASE_URL": url})
    assert result.exit_code == 3
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: database unavailable")


def test_bad_configuration_exits_2_naming_the_variable(cli: Cli) -> None:
    result = cli("couriers", "list", env={"COURIER_DB_POOL_MAX": "many"})
    assert result.exit_code == 2
    assert "COURIER_DB_POOL_MAX" in single_line_error(result)
