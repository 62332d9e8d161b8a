"""``hwgen convert``: a ``torch.export`` model file to a network folder."""
from __future__ import annotations

from .cli import app  # noqa: F401
