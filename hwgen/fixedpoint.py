"""The one numeric truth: every fixed-point rule hwgen uses.

The converter, the golden model, the cycle model and the RTL generator all
call these functions; nothing else in hwgen rounds, saturates or fires.

Rules (SPEC.md §2, §3)
----------------------
* ``sat(v, n)`` clamps to the signed range :math:`[-2^{n-1}, 2^{n-1}-1]`.
* A neuron with threshold :math:`\\theta` and burst cap :math:`\\Gamma` emits
  :math:`k = \\mathrm{clamp}(\\lfloor V/\\theta \\rfloor, 0, \\Gamma)` spikes
  and keeps :math:`V - k\\theta` (reset by subtraction); ``floor`` rounds
  toward minus infinity.
* Quantisation rounds half to even (``numpy.rint``) and clamps to the signed
  weight range.
"""
from __future__ import annotations

import math

import numpy as np

#: Widths hwgen accepts for membranes and accumulators (int64 inside).
MIN_WIDTH, MAX_WIDTH = 2, 48
#: Largest magnitude a float64 matmul sums exactly (and float32).
EXACT_FLOAT64, EXACT_FLOAT32 = 2**53, 2**24


def signed_range(bits: int) -> tuple[int, int]:
    """Return ``(lo, hi)`` of a two's-complement integer of ``bits`` bits."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def input_range(bits: int, signed: bool) -> tuple[int, int]:
    """Return the inclusive range of an input word (SPEC §2)."""
    return signed_range(bits) if signed else (0, (1 << bits) - 1)


def saturate(v: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Signed saturation ``sat(v, bits)``.

    Returns
    -------
    clamped : ndarray
        ``clip(v, -2**(bits-1), 2**(bits-1)-1)``.
    hit : ndarray of bool
        Where the clamp changed the value (a saturation event).
    """
    lo, hi = signed_range(bits)
    hit = (v < lo) | (v > hi)
    return np.clip(v, lo, hi), hit


def fire(v: np.ndarray, threshold: int, burst: int) -> tuple[np.ndarray, np.ndarray]:
    """Burst IF firing with reset by subtraction.

    .. math:: k = \\mathrm{clamp}(\\lfloor V/\\theta \\rfloor, 0, \\Gamma),
              \\qquad V' = V - k\\theta

    Returns ``(k, V')``.
    """
    k = np.clip(np.floor_divide(v, threshold), 0, burst)
    return k, v - k * threshold


def rne(x):
    """Round half to even (numpy ``rint``), the only rounding hwgen uses."""
    return np.rint(x)


def quantise(values: np.ndarray, scale: float, bits: int) -> np.ndarray:
    """``clamp(rne(values * scale))`` to the signed range of ``bits`` (int64)."""
    lo, hi = signed_range(bits)
    return np.clip(rne(np.asarray(values, dtype=np.float64) * scale), lo, hi).astype(np.int64)


def width_for(lo: int, hi: int) -> int:
    """Smallest signed width that holds every integer in ``[lo, hi]``."""
    bits = 1
    while True:
        bits += 1
        a, b = signed_range(bits)
        if a <= lo and hi <= b:
            return bits


def storage_dtype(values: np.ndarray) -> np.dtype:
    """Smallest of int8/int16/int32 that holds ``values`` (the file's dtypes)."""
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dtype)
    raise ValueError(f"values in [{lo}, {hi}] do not fit in int32")


def exact_matmul_dtype(bound: int) -> np.dtype:
    """A dtype whose matmul is exact when every partial sum is below ``bound``.

    BLAS float matmuls are exact on integers while every partial sum stays
    below :math:`2^{24}` (float32) or :math:`2^{53}` (float64); past that the
    golden model falls back to int64 (exact, slower).
    """
    if bound < EXACT_FLOAT32:
        return np.dtype(np.float32)
    if bound < EXACT_FLOAT64:
        return np.dtype(np.float64)
    return np.dtype(np.int64)


def ceil_log2(n: int) -> int:
    """:math:`\\lceil \\log_2 n \\rceil` for ``n >= 1``."""
    return max(0, math.ceil(math.log2(n))) if n > 1 else 0
