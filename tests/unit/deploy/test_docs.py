"""The documentation lists exactly the configuration courier reads."""

from __future__ import annotations

import re
from pathlib import Path

from courier_adapters.settings import variables

ROOT = Path(__file__).resolve().parents[3]


def test_every_variable_is_documented_and_every_documented_one_exists() -> None:
    documented = set(re.findall(r"`(COURIER_[A-Z_]+)`", (ROOT / "docs/configuration.md").read_text()))
    assert documented == set(variables())
