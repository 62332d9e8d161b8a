"""Per-module handlers: one small function turns one torch module into float IR.

Adding a layer type is one decorated function here. Handlers receive the
module instance and a ``source`` label (the module path) for error messages,
and return a list of float-IR records (empty for no-ops such as Dropout).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from .. import nn as hnn
from ..errors import ConversionError
from .fir import Act, ActKind, AvgPool, BatchNorm, Flatten, Normalise, Weighted

MODULE_HANDLERS: dict[type, Callable] = {}


def handles(*types):
    """Register the decorated function as the handler of module ``types``."""
    def register(function):
        for module_type in types:
            MODULE_HANDLERS[module_type] = function
        return function
    return register


def array(tensor) -> np.ndarray | None:
    """A detached float64 numpy copy of a tensor (None stays None)."""
    return None if tensor is None else tensor.detach().to(torch.float64).cpu().numpy().copy()


def pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value), int(value))


def _reject(source: str, module, reason: str):
    raise ConversionError(f"module '{source}' ({type(module).__name__}): {reason}")


@handles(nn.Conv2d)
def conv2d(module: nn.Conv2d, source: str):
    if module.groups != 1 or pair(module.dilation) != (1, 1):
        _reject(source, module, "groups and dilation must be 1")
    if module.padding_mode != "zeros" or isinstance(module.padding, str):
        _reject(source, module, "padding must be explicit integers with padding_mode='zeros'")
    return [Weighted(source, array(module.weight), array(module.bias), pair(module.stride), pair(module.padding))]


@handles(nn.Linear)
def linear(module: nn.Linear, source: str):
    return [Weighted(source, array(module.weight), array(module.bias))]


@handles(nn.BatchNorm1d, nn.BatchNorm2d)
def batch_norm(module, source: str):
    if module.running_mean is None:
        _reject(source, module, "needs running statistics (track_running_stats=True)")
    ones = torch.ones_like(module.running_mean)
    gamma = module.weight if module.affine else ones
    beta = module.bias if module.affine else torch.zeros_like(ones)
    return [BatchNorm(source, array(module.running_mean), array(module.running_var),
                      array(gamma), array(beta), float(module.eps))]


@handles(nn.ReLU)
def relu(module, source: str):
    return [Act(ActKind.RELU, source)]


@handles(nn.ReLU6)
def relu6(module, source: str):
    return [Act(ActKind.CLIP, source, lam=6.0)]


@handles(nn.Hardtanh)
def hardtanh(module: nn.Hardtanh, source: str):
    if module.min_val != 0 or module.max_val <= 0:
        _reject(source, module, f"only Hardtanh(0, m) with m > 0 converts, got ({module.min_val}, {module.max_val})")
    return [Act(ActKind.CLIP, source, lam=float(module.max_val))]


@handles(hnn.QCFS)
def qcfs(module: hnn.QCFS, source: str):
    if float(module.lam.detach()) <= 0:
        _reject(source, module, f"λ must be > 0, got {float(module.lam.detach())}")
    if module.phi != 0.5:
        _reject(source, module, f"shift φ must be 1/2 (v_init = θ/2), got {module.phi}")
    return [Act(ActKind.QCFS, source, lam=float(module.lam.detach()), levels=int(module.levels))]


@handles(hnn.RNL)
def rnl(module: hnn.RNL, source: str):
    return [Act(ActKind.RNL, source, lam=float(module.threshold.detach()))]


@handles(hnn.Normalize)
def normalize(module: hnn.Normalize, source: str):
    return [Normalise(source, array(module.mean), array(module.std))]


@handles(nn.AvgPool2d)
def avg_pool(module: nn.AvgPool2d, source: str):
    if module.ceil_mode or not module.count_include_pad or module.divisor_override:
        _reject(source, module, "needs ceil_mode=False, count_include_pad=True, no divisor_override")
    kernel = pair(module.kernel_size)
    return [AvgPool(source, kernel, pair(module.stride or kernel), pair(module.padding))]


@handles(nn.AdaptiveAvgPool2d)
def adaptive_avg_pool(module, source: str):
    size = pair(module.output_size)
    if size != (1, 1):
        _reject(source, module, "only output_size=1 (global average pooling) converts")
    return [AvgPool(source, (0, 0), (0, 0))]  # kernel resolved by shape inference


@handles(nn.Flatten)
def flatten(module: nn.Flatten, source: str):
    if module.start_dim != 1 or module.end_dim != -1:
        _reject(source, module, "only Flatten(start_dim=1) converts")
    return [Flatten(source)]


@handles(nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity)
def dropped(module, source: str):
    return []


@handles(nn.MaxPool2d)
def max_pool(module, source: str):
    _reject(source, module, "max pooling has no exact integer spiking form here; use nn.AvgPool2d "
                            "(it becomes a sum pool with the 1/k² folded into the next layer)")
