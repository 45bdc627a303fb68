"""Ship courier's alembic migrations inside courier-adapters, from a checkout and from the sdist alike.

In the repository the migrations live at the root (``migrations/``, next to ``alembic.ini``). The sdist
carries a copy at ``src/courier_adapters/postgres/migrations``, so a wheel built from the sdist (which
cannot see ``../../migrations``) finds them inside the package source and ships them like any other file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface  # type: ignore[import-not-found]

INSIDE = Path("src/courier_adapters/postgres/migrations")


class MigrationsHook(BuildHookInterface):  # type: ignore[misc]  # hatchling: a build dependency only
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        if (root / INSIDE / "env.py").exists():
            return  # building from the sdist: the migrations are part of the package source already
        checkout = root.parent.parent / "migrations"
        if not (checkout / "env.py").exists():
            raise FileNotFoundError(f"courier's migrations were not found at {checkout}")
        target = INSIDE if self.target_name == "sdist" else Path(*INSIDE.parts[1:])  # wheel: no src/
        for path in sorted(checkout.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                build_data["force_include"][str(path)] = str(target / path.relative_to(checkout))
