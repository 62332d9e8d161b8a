"""The float IR a torch model is lowered to before conversion.

A model becomes a flat chain of these small records (float64 numpy arrays);
the passes in :mod:`hwgen.convert.passes` fold and group them into
:class:`PlanLayer` objects that map one-to-one onto ``hwgen-snn/1`` layers.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, replace

import numpy as np


class ActKind(str, enum.Enum):
    """Activation families hwgen converts."""

    RELU = "relu"      # threshold calibrated from data
    CLIP = "clip"      # ReLU clipped at a fixed max (ReLU6, Hardtanh(0, m), clamp)
    QCFS = "qcfs"      # learned λ, L levels
    RNL = "rnl"        # learned θ


@dataclass(frozen=True)
class Act:
    """An activation; ``lam`` is known unless ``kind`` is RELU."""

    kind: ActKind
    source: str
    lam: float | None = None
    levels: int | None = None
    origin: str = ""


@dataclass(frozen=True, eq=False)
class Weighted:
    """conv2d (``weight`` 4-D) or linear (2-D), ``y = W x + b``."""

    source: str
    weight: np.ndarray
    bias: np.ndarray | None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    origin: str = ""

    @property
    def is_conv(self) -> bool:
        return self.weight.ndim == 4


@dataclass(frozen=True, eq=False)
class BatchNorm:
    """Inference-mode batch norm: ``γ (x - μ)/sqrt(σ² + ε) + β`` per channel."""

    source: str
    mean: np.ndarray
    var: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    eps: float
    origin: str = ""

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        """``(a, c)`` with ``bn(x) = a x + c``."""
        scale = self.gamma / np.sqrt(self.var + self.eps)
        return scale, self.beta - scale * self.mean


@dataclass(frozen=True, eq=False)
class Normalise:
    """Input normalisation ``(x - mean)/std`` per channel."""

    source: str
    mean: np.ndarray
    std: np.ndarray
    origin: str = ""


@dataclass(frozen=True)
class AvgPool:
    """Average pool (zero padding counted, as torch's default)."""

    source: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] = (0, 0)
    origin: str = ""


@dataclass(frozen=True)
class Flatten:
    """Flatten to ``[N, features]`` (C-order); implicit before linear."""

    source: str
    origin: str = ""


@dataclass(frozen=True, eq=False)
class PlanLayer:
    """One future ``hwgen-snn/1`` layer in float, before normalisation.

    ``op`` is ``conv2d``, ``linear`` or ``sumpool2d``; ``act`` is None for the
    output layer and for pools.
    """

    name: str
    op: str
    source: str
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    kernel: tuple[int, int] | None = None
    act: Act | None = None


def with_origin(records: list, origin: str) -> list:
    """``records`` labelled with the module type or operation they came from."""
    return [replace(record, origin=origin) for record in records]


def describe(record) -> str:
    """``'source' (Type)`` for error messages."""
    return f"'{record.source}' ({record.origin})" if record.origin else f"'{record.source}'"
