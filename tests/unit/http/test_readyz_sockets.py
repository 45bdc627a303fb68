"""/readyz's look at the database's Unix-domain socket: gone with a deleted data directory."""

from __future__ import annotations

from pathlib import Path

from courier_http.ops import sockets_gone


def test_a_unix_socket_host_is_gone_once_its_socket_file_is(tmp_path: Path) -> None:
    url = f"postgresql://postgres@/courier?host={tmp_path}&port=5433"
    socket = tmp_path / ".s.PGSQL.5433"
    socket.touch()
    assert not sockets_gone(url)
    socket.unlink()
    assert sockets_gone(url)
    tmp_path.rmdir()
    assert sockets_gone(url)


def test_the_default_port_and_tcp_hosts() -> None:
    assert sockets_gone("postgresql://postgres@/courier?host=/nonexistent-dir")  # .s.PGSQL.5432
    assert not sockets_gone("postgresql://postgres@127.0.0.1:5432/courier")
    assert not sockets_gone("host=localhost,/nonexistent-dir port=5432 dbname=courier")  # a TCP host left
    assert not sockets_gone("not a url at all")
