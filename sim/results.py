"""Write golden-model results as ``.npz`` (the ``hwgen run`` output)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .golden import GoldenResult


def save_results(path: str | os.PathLike, result: GoldenResult, **extra: np.ndarray) -> Path:
    """Save ``logits`` ``[N, classes]``, ``prediction`` ``[N]``, and per layer
    ``spikes/<layer>`` (totals ``[N]``) and ``saturations/<layer>`` ``[N]``.

    The file is written beside its final name and renamed into place.
    """
    path = Path(path)
    arrays = {"logits": result.logits.astype(np.int64), "prediction": result.prediction.astype(np.int64)}
    arrays.update({f"spikes/{name}": total for name, total in result.spike_totals().items()})
    arrays.update({f"saturations/{name}": count for name, count in result.saturations.items()})
    arrays.update(extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.partial.npz")
    np.savez(staging, **arrays)
    os.replace(staging, path)
    return path
