"""Every package of the workspace carries its metadata: license, readme, classifiers, description."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = sorted(
    p.parent for p in [*ROOT.glob("packages/*/pyproject.toml"), *ROOT.glob("apps/*/pyproject.toml")]
)


def test_every_package_is_found() -> None:
    assert {p.name for p in PACKAGES} == {
        "courier-core",
        "courier-adapters",
        "cli",
        "consumer",
        "http",
        "order-sim",
    }


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_the_package_metadata_is_complete(package: Path) -> None:
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (package / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()
    assert project["readme"] == "README.md" and (package / "README.md").read_text().startswith("# ")
    assert project["description"]
    # No [project.urls] until the project has a public address: an invented one would mislead.
    assert "urls" not in project
    classifiers = project["classifiers"]
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # the SPDX expression says it
    assert project["requires-python"] == ">=3.11"


def test_make_build_builds_every_package_from_its_sdist_and_ci_runs_it() -> None:
    makefile = (ROOT / "Makefile").read_text()
    listed = makefile.split("\nPACKAGES := ", 1)[1].split("\n", 1)[0].split()
    assert sorted(listed) == sorted(str(p.relative_to(ROOT)) for p in PACKAGES)
    target = makefile.split("\nbuild: ", 1)[1].split("\n\n", 1)[0]
    assert "--sdist" in target and '--wheel --out-dir dist "$$tmp"/*.tar.gz' in target
    assert "make build" in (ROOT / ".ci/run").read_text()
