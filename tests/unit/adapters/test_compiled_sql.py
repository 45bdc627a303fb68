"""What repositories run (``postgres/compiled.py``, written by ``make sql``) is exactly what the
SQLAlchemy Core source (``postgres/statements.py``) compiles, shape by shape, and loading it needs no
SQLAlchemy (the CLI's start-up depends on that)."""

from __future__ import annotations

import inspect
import itertools
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from courier_adapters.postgres import compiled, statements

ROOT = Path(__file__).resolve().parents[3]


def builders() -> dict[str, inspect.Signature]:
    return {name: inspect.signature(fn.__wrapped__) for name, fn in statements._builders()}  # type: ignore[attr-defined]


def test_every_shape_of_every_statement_is_compiled_as_the_source_compiles_it() -> None:
    found = builders()
    assert len(found) > 25  # every builder is seen, not none
    for name, signature in found.items():
        ahead = getattr(compiled, name, None)
        assert ahead is not None, f"compiled.{name} is missing: run `make sql`"
        assert list(inspect.signature(ahead).parameters) == list(signature.parameters), name
        for flags in itertools.product((False, True), repeat=len(signature.parameters)):
            built = getattr(statements, name)(*flags)
            assert ahead(*flags) == built, f"compiled.{name}{flags} is stale: run `make sql`"


def test_defaults_are_kept_as_in_the_source() -> None:
    assert compiled.courier_pick(False) == statements.courier_pick(False, True)
    assert compiled.delivery_list(False, False, False) == statements.delivery_list(False, False, False, False)


def test_nothing_is_compiled_that_the_source_does_not_build() -> None:
    functions = {
        n for n, v in vars(compiled).items() if inspect.isfunction(v) and v.__module__ == compiled.__name__
    }
    assert functions == set(builders())


def test_loading_what_repositories_run_imports_no_sqlalchemy() -> None:
    probe = (
        "import sys; import courier_adapters.postgres.repositories; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_make_sql_writes_the_file_that_is_committed(tmp_path: Path) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    target = tmp_path / "compiled.py"
    # -o sync: the environment the tests run in is used as it is (no uv sync in the middle of a test run)
    done = subprocess.run(
        [make, "-o", "sync", "sql", f"COMPILED_SQL={target}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert target.read_text() == Path(compiled.__file__).read_text()
