"""A compiled statement: the SQL psycopg runs and the values of the literals SQLAlchemy made parameters.

Its own module so that :mod:`courier_adapters.postgres.compiled` (what repositories run) loads
without SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Statement:
    """Compiled SQL plus the values of the literals SQLAlchemy turned into parameters."""

    sql: str
    defaults: Mapping[str, Any]

    def params(self, **given: Any) -> Mapping[str, Any]:
        return {**self.defaults, **given} if self.defaults else given
