"""The command line of the services (``courier-api``, ``courier-consumer``): ``--help`` and ``--version``.

They are configured by ``COURIER_*`` environment variables (and ``.env``), not by arguments; ``--help``
says so and lists every setting with its default, read from :class:`Settings` itself so that it can
never fall behind. Any other argument is refused with exit code 2 instead of being ignored.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from courier_adapters.settings import Settings

SETTINGS_DOC = "docs/configuration.md"


def package_version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "0+unknown"


def _settings_table() -> str:
    lines = []
    for f in dataclasses.fields(Settings):
        default = f.default
        shown = "unset" if default is None or default == () else default
        lines.append(f"  COURIER_{f.metadata['env']:<34} {shown}")
    return "\n".join(lines)


def parse_command_line(prog: str, summary: str, distribution: str, argv: Sequence[str] | None = None) -> None:
    """Answer ``--help`` / ``--version`` (exit 0), refuse anything else (exit 2), else return."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=f"{summary} Configured by environment variables (or a .env file); no arguments.",
        epilog=f"settings (name, default; see {SETTINGS_DOC}):\n{_settings_table()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{prog} {package_version(distribution)}")
    parser.parse_args(argv)
