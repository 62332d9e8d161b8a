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


def saturate_count(v: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`saturate` of a batch ``[N, ...]``, counting events per row.

    Returns ``(clamped, events)`` with ``events`` int64 ``[N]``. When nothing
    is out of range (the usual case) ``v`` is returned as it is.
    """
    lo, hi = signed_range(bits)
    if v.size == 0 or (v.min() >= lo and v.max() <= hi):
        return v, np.zeros(len(v), dtype=np.int64)
    clamped, hit = saturate(v, bits)
    return clamped, hit.reshape(len(v), hit[0].size).sum(axis=1)


def spike_dtype(burst: int) -> np.dtype:
    """The narrowest signed dtype holding spike counts ``0..burst``."""
    return np.dtype(np.int8) if burst <= 127 else np.dtype(np.int64)


# Up to this burst cap, k is counted with comparisons (faster than a divide).
_COMPARE_MAX_BURST = 4


def fire(v: np.ndarray, threshold: int, burst: int, *, inplace: bool = False
         ) -> tuple[np.ndarray, np.ndarray]:
    """Burst IF firing with reset by subtraction.

    .. math:: k = \\mathrm{clamp}(\\lfloor V/\\theta \\rfloor, 0, \\Gamma)
              = \\sum_{j=1}^{\\Gamma} [V \\ge j\\theta],
              \\qquad V' = V - k\\theta

    (the sum form is used for small ``Γ``: the same integers, no division).

    Returns ``(k, V')``; ``k`` has :func:`spike_dtype` (``int8`` for any
    practical ``Γ``), ``V'`` the dtype of ``v`` (``v`` itself, updated, when
    ``inplace``).
    """
    if 1 <= burst <= _COMPARE_MAX_BURST:
        fired = v >= threshold
        k = fired.view(np.int8)
        for j in range(2, burst + 1):
            k = k + (v >= j * threshold)
        if inplace and burst == 1:
            return k, np.subtract(v, threshold, out=v, where=fired)
    else:
        k = np.clip(np.floor_divide(v, threshold), 0, burst).astype(spike_dtype(burst))
    return k, v - np.multiply(k, threshold, dtype=v.dtype)


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


def current_bounds(weight: np.ndarray, bias: np.ndarray | None, in_lo: int, in_hi: int):
    """Per-neuron bounds of :math:`I = \\sum_j w_j s_j + b` for :math:`s_j \\in [lo, hi]`.

    Zero padding is covered because ``lo <= 0 <= hi`` for every layer input.

    Returns
    -------
    i_lo, i_hi : ndarray of int64, one per output neuron (channel for conv).
    """
    w = np.asarray(weight, dtype=np.int64).reshape(len(weight), -1)
    a, b = w * int(in_lo), w * int(in_hi)
    offset = np.zeros(len(w), dtype=np.int64) if bias is None else np.asarray(bias, dtype=np.int64)
    return np.minimum(a, b).sum(axis=1) + offset, np.maximum(a, b).sum(axis=1) + offset


def membrane_range(i_lo, i_hi, threshold: int, v_init: int, burst: int, timesteps: int) -> tuple[int, int]:
    """Sound bounds of every pre-saturation value :math:`U = V + I` over ``T`` steps.

    With :math:`U_t \\in [L_t + i_{lo}, B_t + i_{hi}]`, firing gives the next
    post-reset bounds

    .. math:: B_{t+1} = \\max(\\min(U^{hi}_t, \\theta - 1),\\ U^{hi}_t - \\Gamma\\theta),
              \\qquad L_{t+1} = \\min(U^{lo}_t, 0)

    starting from :math:`B_0 = L_0 = v_{init}`. A ``v_bits`` that holds the
    result never saturates on in-range inputs.
    """
    upper = np.full(np.shape(i_hi), v_init, dtype=np.int64)
    lower = upper.copy()
    lo, hi = min(v_init, 0), max(v_init, threshold)
    for _ in range(timesteps):
        u_hi, u_lo = upper + i_hi, lower + i_lo
        lo, hi = min(lo, int(u_lo.min())), max(hi, int(u_hi.max()))
        upper = np.maximum(np.minimum(u_hi, threshold - 1), u_hi - burst * threshold)
        lower = np.minimum(u_lo, 0)
    return lo, hi


def accumulator_range(i_lo, i_hi, timesteps: int) -> tuple[int, int]:
    """Bounds of the output accumulator :math:`\\sum_{t<T} I_t`, starting at 0."""
    return min(0, timesteps * int(np.min(i_lo))), max(0, timesteps * int(np.max(i_hi)))
