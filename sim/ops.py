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
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
        current = (cols @ weight.reshape(weight.shape[0], -1).T.astype(dtype))
        current = current.reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)
    current = current.astype(np.int64)
    if layer.bias is not None:
        current += layer.bias.reshape((1, -1) + (1,) * (current.ndim - 2))
    return current


def sum_pool(layer: Layer, s_in: np.ndarray) -> np.ndarray:
    """``sumpool2d``: exact sum of counts over each window (zero padding)."""
    return _windows(s_in.astype(np.int64), layer.kernel, layer.stride, layer.padding).sum(axis=(4, 5))
