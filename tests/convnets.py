"""Small random torch models and helpers for the converter tests.

Every factory is seeded and returns a model in eval mode. BatchNorm layers
get non-trivial running statistics and affine parameters; QCFS thresholds can
be set from data (:func:`lively_qcfs`) so that every level is used, which
makes comparisons between the ANN and the SNN meaningful.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hwgen import Network
from hwgen.convert.calibrate import plan_network
from hwgen.nn import QCFS, RNL
from hwgen.reference import ann_logits


def images(shape, count: int = 32, seed: int = 0) -> np.ndarray:
    """Random uint8 pixels ``[count, *shape]``."""
    return np.random.default_rng(seed).integers(0, 256, (count, *shape)).astype(np.uint8)


def randomise_bn(bn: nn.Module, seed: int) -> nn.Module:
    """Non-trivial running statistics (and affine parameters, if any)."""
    g = torch.Generator().manual_seed(seed)
    n = bn.num_features
    with torch.no_grad():
        bn.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
        bn.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.25)
        if bn.affine:
            bn.weight.copy_(torch.rand(n, generator=g) + 0.5)
            bn.bias.copy_(torch.rand(n, generator=g) * 0.6 - 0.2)
    return bn


def eval_model(model: nn.Module, seed: int = 0) -> nn.Module:
    """Randomise every BatchNorm of ``model`` and put it in eval mode."""
    for index, module in enumerate(model.modules()):
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            randomise_bn(module, seed * 100 + index)
    return model.eval()


def qcfs_cnn(seed: int = 0, levels: int = 4, lam: float = 1.0) -> nn.Sequential:
    """[1, 8, 8] -> conv/BN/QCFS -> avgpool -> conv(stride 2)/QCFS -> linear/QCFS -> 5 logits."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), QCFS(levels, lam), nn.AvgPool2d(2),
        nn.Conv2d(6, 8, 3, stride=2, padding=1), QCFS(levels, lam), nn.Flatten(),
        nn.Linear(8 * 2 * 2, 16), QCFS(levels, lam), nn.Linear(16, 5))
    return eval_model(model, seed)


def relu_mlp(seed: int = 0, features: int = 12, hidden=(16, 16), classes: int = 4) -> nn.Sequential:
    """[features] -> (linear, BN1d, ReLU) * len(hidden) -> classes."""
    torch.manual_seed(seed)
    layers, width = [], features
    for size in hidden:
        layers += [nn.Linear(width, size), nn.BatchNorm1d(size), nn.ReLU()]
        width = size
    return eval_model(nn.Sequential(*layers, nn.Linear(width, classes)), seed)


def relu_cnn(seed: int = 0) -> nn.Sequential:
    """[2, 8, 8] -> conv/BN/ReLU -> avgpool -> conv/ReLU -> global avgpool -> linear -> 3 logits."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(8, 3))
    return eval_model(model, seed)


class FunctionalCNN(nn.Module):
    """The same computation as :func:`relu_cnn` plus dropout, written with functional calls."""

    def __init__(self, sequential: nn.Sequential, flatten: str = "view"):
        super().__init__()
        self.conv1, self.bn1, self.conv2, self.fc = (copy.deepcopy(sequential[i]) for i in (0, 1, 4, 8))
        self.flatten = flatten

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.avg_pool2d(x, 2)
        x = torch.relu(self.conv2(x))
        x = F.adaptive_avg_pool2d(x, 1) if self.flatten != "mean" else x.mean((2, 3), keepdim=True)
        x = F.dropout(x, 0.5, self.training)
        x = x.view(x.size(0), -1) if self.flatten == "view" else torch.flatten(x, 1)
        return self.fc(x)


@torch.no_grad()
def lively_qcfs(model: nn.Module, x: np.ndarray, quantile: float = 0.9) -> nn.Module:
    """Set every QCFS λ to the ``quantile`` of its input on ``x`` (all levels get used)."""
    handles = []

    def hook(module, inputs):
        module.lam.fill_(max(float(torch.quantile(inputs[0].flatten().double(), quantile)), 1e-3))

    for module in model.modules():
        if isinstance(module, QCFS):
            handles.append(module.register_forward_pre_hook(hook))
    model(as_float(x))
    for handle in handles:
        handle.remove()
    return model


@torch.no_grad()
def balance_classes(model: nn.Sequential, x: np.ndarray) -> nn.Sequential:
    """Shift the output bias so every class wins on some of ``x`` (centred logits)."""
    logits = model(as_float(x))
    model[-1].bias.sub_(logits.mean(0))
    return model


def as_float(x: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    """uint8 pixels as the float ANN's input in [0, 1]."""
    return torch.as_tensor(x, dtype=dtype) / 255


@torch.no_grad()
def model_logits(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """The model's own float64 logits on pixels ``x``."""
    return copy.deepcopy(model).double().eval()(as_float(x, torch.float64)).numpy()


def folded_logits(conversion, x: np.ndarray) -> np.ndarray:
    """Logits of the folded float plan (original units, before normalisation)."""
    return ann_logits(plan_network(conversion.plan, 1 / 255), x, dtype=torch.float64)


@torch.no_grad()
def activations(model: nn.Module, x: np.ndarray, types=(nn.ReLU,)) -> list[torch.Tensor]:
    """Outputs of every module of ``types`` on ``x``, in call order."""
    seen, handles = [], []
    for module in model.modules():
        if isinstance(module, types):
            handles.append(module.register_forward_hook(lambda m, i, o: seen.append(o.double())))
    model(as_float(x))
    for handle in handles:
        handle.remove()
    return seen


def same_network(a: Network, b: Network, names: bool = False) -> None:
    """Assert two networks are equal layer by layer (names optional)."""
    assert a.timesteps == b.timesteps and a.input == b.input
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers):
        if names:
            assert la.name == lb.name
        assert (la.op, la.stride, la.padding, la.kernel, la.neuron, la.acc_bits) == \
               (lb.op, lb.stride, lb.padding, lb.kernel, lb.neuron, lb.acc_bits), la.name
        for field in ("weight", "bias"):
            wa, wb = getattr(la, field), getattr(lb, field)
            assert (wa is None) == (wb is None), (la.name, field)
            if wa is not None:
                np.testing.assert_array_equal(wa, wb, err_msg=f"{la.name}.{field}")


def rnl(threshold_max: float, p: float) -> RNL:
    """An RNL with a set running maximum and ``p`` (θ = max · sigmoid(p))."""
    module = RNL(init_p=p)
    module.running_max.fill_(threshold_max)
    return module


class Residual(nn.Module):
    """A residual add: a branch the converter must reject."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(6, 6), nn.Linear(6, 6), nn.Linear(6, 2)

    def forward(self, x):
        y = F.relu(self.fc1(x))
        return self.out(F.relu(self.fc2(y)) + y)
