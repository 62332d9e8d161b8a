"""Exact integer tensor ops for the golden model (numpy, batch-first NCHW).

Every function returns exact int64 results. Matmuls run in a float dtype
only when :func:`hwgen.fixedpoint.exact_matmul_dtype` proves every partial
sum is representable, which lets BLAS do the work without rounding.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from hwgen.fixedpoint import exact_matmul_dtype
from hwgen.network import Layer, Op


def _windows(x: np.ndarray, window, stride, padding) -> np.ndarray:
    """``[N, C, Ho, Wo, kh, kw]`` view of the zero-padded windows of ``x``."""
    (ph, pw), (sh, sw) = padding, stride
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    return sliding_window_view(x, tuple(window), axis=(2, 3))[:, :, ::sh, ::sw]


def matmul_dtype(layer: Layer, in_max: int) -> np.dtype:
    """Exact dtype for ``layer``'s weighted sum given inputs ``|s| <= in_max``."""
    row_sums = np.abs(layer.weight).reshape(layer.weight.shape[0], -1).sum(axis=1)
    return exact_matmul_dtype(int(row_sums.max(initial=0)) * int(in_max))


def weighted_sum(layer: Layer, s_in: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The synaptic current :math:`I = W \\circledast s + b` as exact int64.

    Parameters
    ----------
    layer : Layer
        A ``conv2d`` or ``linear`` layer.
    s_in : ndarray
        ``[N, *in_shape]`` integer spike counts or pixels.
    dtype : numpy dtype
        From :func:`matmul_dtype`; a float dtype only when exact.
    """
    n = s_in.shape[0]
    weight = layer.weight
    if layer.op is Op.LINEAR:
        current = s_in.reshape(n, weight.shape[1]).astype(dtype) @ weight.T.astype(dtype)
    else:
        win = _windows(s_in.astype(dtype), weight.shape[2:], layer.stride, layer.padding)
        _, c, ho, wo, kh, kw = win.shape
        # im2col as [C·kh·kw, N·Ho·Wo]: the copy runs along contiguous rows.
        cols = win.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, n * ho * wo)
        current = weight.reshape(weight.shape[0], c * kh * kw).astype(dtype) @ cols
        current = current.reshape(-1, n, ho, wo).transpose(1, 0, 2, 3)
    current = current.astype(np.int64)
    if layer.bias is not None:
        current += layer.bias.reshape((1, -1) + (1,) * (current.ndim - 2))
    return current


def sum_pool(layer: Layer, s_in: np.ndarray) -> np.ndarray:
    """``sumpool2d``: exact sum of counts over each window (zero padding)."""
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel, layer.stride, layer.padding
    x = s_in
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = np.zeros(x.shape[:2] + (ho, wo), dtype=np.int64)   # exact: counts are small
    for i in range(kh):          # one strided slice per window offset
        for j in range(kw):
            out += x[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
    return out
