"""Hardware verbs: ``hwgen generate`` and ``hwgen verify``."""
from __future__ import annotations

from .cli import app  # noqa: F401
