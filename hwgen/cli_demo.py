"""``hwgen demo``: train (cached), convert, simulate, print the accuracy table."""
from __future__ import annotations

from .cli import app  # noqa: F401
