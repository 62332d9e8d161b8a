"""Training-side activations that convert exactly: QCFS and RNL.

Use them in place of ReLU when training; :func:`hwgen.convert` reads their
learned thresholds as they are.
"""
from __future__ import annotations

import torch
from torch import nn


class _FloorSTE(torch.autograd.Function):
    """``floor`` forward, identity backward (straight-through estimator)."""

    @staticmethod
    def forward(ctx, x):
        return torch.floor(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class QCFS(nn.Module):
    """Quantization clip-floor-shift activation (Bu et al., ICLR 2022).

    .. math:: h(x) = \\frac{\\lambda}{L}\\,
              \\mathrm{clip}\\!\\left(\\left\\lfloor \\frac{xL}{\\lambda} + \\varphi
              \\right\\rfloor, 0, L\\right)

    Parameters
    ----------
    levels : int
        Quantisation steps ``L`` (2..16 typical).
    init_lambda : float
        Initial trainable threshold ``λ`` (the SNN threshold after conversion).
    phi : float
        Shift ``φ``; 1/2 matches an initial membrane of θ/2.
    """

    def __init__(self, levels: int = 8, init_lambda: float = 4.0, phi: float = 0.5):
        super().__init__()
        if not isinstance(levels, int) or levels < 1:
            raise ValueError(f"levels must be a positive integer, got {levels!r}")
        if init_lambda <= 0:
            raise ValueError(f"init_lambda must be > 0, got {init_lambda!r}")
        self.lam = nn.Parameter(torch.tensor(float(init_lambda)))
        self.register_buffer("levels", torch.tensor(levels))
        self.phi = phi

    def forward(self, x):
        steps = self.levels.to(x.dtype)
        y = _FloorSTE.apply(x / self.lam * steps + self.phi) / steps
        return torch.clamp(y, 0, 1) * self.lam

    def extra_repr(self) -> str:
        return f"levels={int(self.levels)}, lam={float(self.lam):.4g}"


class RNL(nn.Module):
    """Rate norm layer (Ding et al., IJCAI 2021).

    .. math:: \\theta = m \\cdot \\sigma(p), \\qquad
              h(x) = \\theta\\,\\mathrm{clamp}(\\mathrm{relu}(x)/\\theta, 0, 1)

    with ``m`` the running maximum of the input (updated in training with
    ``momentum``) and ``p`` trainable.
    """

    def __init__(self, momentum: float = 0.1, init_p: float = 0.0):
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(init_p)))
        self.register_buffer("running_max", torch.tensor(1.0))
        self.momentum = momentum

    @property
    def threshold(self) -> torch.Tensor:
        return self.running_max * torch.sigmoid(self.p)

    def forward(self, x):
        if self.training:
            with torch.no_grad():
                batch_max = x.detach().max().clamp_min(1e-6)
                self.running_max.mul_(1 - self.momentum).add_(self.momentum * batch_max)
        theta = self.threshold
        return torch.clamp(torch.relu(x) / theta, 0, 1) * theta


class Normalize(nn.Module):
    """Per-channel input normalisation ``(x - mean) / std`` (folded on conversion)."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(-1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(-1))

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return (x - self.mean.reshape(shape)) / self.std.reshape(shape)
