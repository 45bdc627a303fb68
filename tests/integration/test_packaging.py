"""courier-adapters built as a user would get it: its sdist, then a wheel built from that sdist alone.

The migrations live at the repository's root; the wheel must carry them all the same (the sdist cannot see
``../../migrations``), and the migration code must find and apply them from the installed wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from courier_adapters.postgres import migrate
from tests.support.postgres import TestServer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "migrations"
INSIDE = "courier_adapters/postgres/migrations"


def _migration_files() -> set[str]:
    return {
        str(p.relative_to(MIGRATIONS))
        for p in MIGRATIONS.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def _uv() -> str:
    uv = shutil.which("uv") or str(Path.home() / ".local/bin/uv")
    assert Path(uv).exists(), "uv is needed to build the packages (make uv)"
    return uv


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dist")
    # The wheel from the sdist alone: uv build <sdist> unpacks it in a directory of its own, far from
    # the repository's ../../migrations.
    build = [_uv(), "build", "--no-progress", "--out-dir", str(out)]
    subprocess.run([*build, "--sdist", str(ROOT / "packages/courier-adapters")], check=True, timeout=60)
    (sdist,) = out.glob("courier_adapters-*.tar.gz")
    subprocess.run([*build, "--wheel", str(sdist)], check=True, timeout=60)
    (wheel,) = out.glob("courier_adapters-*.whl")
    return sdist, wheel


def test_the_sdist_carries_the_migrations_inside_the_package_source(built: tuple[Path, Path]) -> None:
    sdist, _ = built
    with tarfile.open(sdist) as archive:
        names = {"/".join(n.split("/")[1:]) for n in archive.getnames()}
    assert {f"src/{INSIDE}/{f}" for f in _migration_files()} <= names
    assert {"LICENSE", "README.md", "pyproject.toml", "hatch_build.py"} <= names
    assert not [n for n in names if "__pycache__" in n]


def test_the_wheel_built_from_the_sdist_contains_the_migrations(built: tuple[Path, Path]) -> None:
    _, wheel = built
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = archive.read(metadata).decode()
    assert {f"{INSIDE}/{f}" for f in _migration_files()} <= names
    assert {f"{INSIDE}/env.py", f"{INSIDE}/script.py.mako"} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in meta
    assert "Classifier: Programming Language :: Python :: 3.11" in meta


def test_the_installed_wheels_migrations_are_found_and_applied(
    built: tuple[Path, Path], pg_server: TestServer, tmp_path: Path
) -> None:
    _, wheel = built
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "site")
    url = pg_server.create(template="template0")
    try:
        script = (
            "import sys; from courier_adapters.postgres import migrate; "
            "d = migrate.migrations_dir(); print(d); migrate.upgrade(sys.argv[1]); print(migrate.current(sys.argv[1]))"
        )
        # The unpacked wheel first on the path: its courier_adapters, not the checkout's, is imported.
        env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
        done = subprocess.run(
            [sys.executable, "-c", script, url],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        found, revision = done.stdout.split()
        assert Path(found) == tmp_path / "site" / INSIDE
        assert revision == migrate.head()
    finally:
        pg_server.drop(url)
