"""The embedded PostgreSQL: one owner per data directory, found by others through postgres.url."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import psycopg
import pytest

from courier_adapters.bootstrap import resolve_database
from courier_adapters.postgres import embedded, migrate
from courier_adapters.settings import load_settings

pytestmark = pytest.mark.integration


def test_the_owner_writes_its_url_and_others_reuse_the_server(embedded_dir) -> None:
    owner = embedded.start(embedded_dir)
    try:
        assert owner.owner
        assert (embedded_dir / "postgres.url").read_text().strip() == owner.server_url
        other = embedded.start(embedded_dir)
        assert not other.owner and other.url() == owner.url()
        other.stop()  # a non-owner never stops the server
        with psycopg.connect(owner.url()) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("courier",)
    finally:
        owner.stop()
    assert not (embedded_dir / "postgres.url").exists()


def test_a_process_without_configuration_migrates_the_embedded_database(embedded_dir) -> None:
    settings = load_settings({"COURIER_DATA_DIR": str(embedded_dir)}, dotenv=None)
    target = resolve_database(settings)
    try:
        assert target.embedded is not None and target.embedded.owner
        assert migrate.current(target.url) == migrate.head()
    finally:
        target.stop()


def test_the_server_stops_when_its_owner_exits(embedded_dir) -> None:
    script = textwrap.dedent(
        f"""
        from courier_adapters.postgres import embedded
        server = embedded.start({str(embedded_dir)!r})
        print(server.url(), flush=True)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    url = out.stdout.strip().splitlines()[-1]
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    assert not (embedded_dir / "postgres.url").exists()
