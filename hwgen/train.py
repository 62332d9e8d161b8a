"""A small training helper for the demo and the benchmark (CPU, minutes).

The demo model is a four-layer CNN sized for an iCE40 UP5K::

    conv 1->8 3x3 pad 1, BN, act, avgpool 2     # 8x14x14
    conv 8->16 3x3 pad 1, BN, act, avgpool 2    # 16x7x7
    flatten, linear 784->64, BN, act
    linear 64->10                               # logits

``act`` is :class:`hwgen.nn.QCFS` (``levels`` L) or ReLU for the twin that is
normalised by max or percentile on conversion. Trained weights are cached in
the user cache directory, keyed by everything that changes them.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from .data import Split, to_float
from .nn import QCFS

CACHE_FORMAT = 1


class Activation(str, Enum):
    """Which activation the model is trained with."""

    QCFS = "qcfs"
    RELU = "relu"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained weights (and the cache key).

    Attributes
    ----------
    activation : Activation
    levels : int
        QCFS quantisation steps L (ignored for ReLU).
    channels : tuple of int
        Output channels of the two convolutions.
    hidden : int
        Width of the hidden linear layer.
    epochs : int
    batch_size : int
    lr : float
        Peak Adam learning rate (one-cycle schedule).
    seed : int
    """

    activation: Activation = Activation.QCFS
    levels: int = 4
    channels: tuple[int, int] = (8, 16)
    hidden: int = 64
    epochs: int = 15
    batch_size: int = 128
    lr: float = 3e-3
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "activation", Activation(self.activation))
        for name in ("levels", "hidden", "epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer, "
                                 f"got {getattr(self, name)!r}")

    def key(self) -> str:
        """A short hash of the config, the torch version and the cache format."""
        doc = asdict(self) | {"activation": self.activation.value, "torch": torch.__version__,
                              "format": CACHE_FORMAT}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]


def _act(config: TrainConfig) -> nn.Module:
    if config.activation is Activation.QCFS:
        return QCFS(levels=config.levels, init_lambda=4.0)
    return nn.ReLU()


def demo_model(config: TrainConfig = TrainConfig()) -> nn.Sequential:
    """The demo CNN (untrained) for 1x28x28 inputs in [0, 1]."""
    c1, c2 = config.channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1), _act(config),
        nn.AvgPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1, bias=False), nn.BatchNorm2d(c2), _act(config),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * 7 * 7, config.hidden, bias=False), nn.BatchNorm1d(config.hidden),
        _act(config),
        nn.Linear(config.hidden, 10),
    )


def evaluate(model: nn.Module, split: Split, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on ``split`` (eval mode, no grad)."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(split), batch_size):
            x = torch.from_numpy(to_float(split.images[start:start + batch_size]))
            y = torch.from_numpy(split.labels[start:start + batch_size])
            correct += int((model(x).argmax(1) == y).sum())
    return correct / max(len(split), 1)


def train(config: TrainConfig, data: Split,
          on_epoch: Callable[[int, float], None] | None = None) -> nn.Module:
    """Train :func:`demo_model` on ``data`` with Adam and a one-cycle schedule.

    ``on_epoch(epoch, mean_loss)`` is called after every epoch (progress).
    """
    torch.manual_seed(config.seed)
    generator = np.random.default_rng(config.seed)
    model = demo_model(config)
    images = torch.from_numpy(to_float(data.images))
    labels = torch.from_numpy(data.labels)
    steps_per_epoch = -(-len(data) // config.batch_size)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.lr, epochs=config.epochs, steps_per_epoch=steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(config.epochs):
        model.train()
        order = torch.from_numpy(generator.permutation(len(data)))
        total = 0.0
        for start in range(0, len(data), config.batch_size):
            index = order[start:start + config.batch_size]
            x = images[index]
            x = _augment(x, generator)
            loss = loss_fn(model(x), labels[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(index)
        if on_epoch:
            on_epoch(epoch, total / len(data))
    return model.eval()


def _augment(x: torch.Tensor, generator: np.random.Generator) -> torch.Tensor:
    """Random horizontal flips (Fashion-MNIST items are left/right symmetric)."""
    flip = torch.from_numpy(generator.random(len(x)) < 0.5)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def cache_dir() -> Path:
    """``$HWGEN_CACHE`` or the platform's user cache dir for hwgen."""
    from platformdirs import user_cache_dir

    return Path(os.environ.get("HWGEN_CACHE") or user_cache_dir("hwgen"))


@dataclass(frozen=True)
class Trained:
    """A trained model, where it is cached, and how it was obtained."""

    model: nn.Module
    path: Path
    cached: bool
    seconds: float


def trained_model(config: TrainConfig, data: Split,
                  on_epoch: Callable[[int, float], None] | None = None) -> Trained:
    """Load the model for ``config`` from the cache, or train and cache it."""
    path = cache_dir() / f"demo-{config.activation.value}-{config.key()}.pt"
    model = demo_model(config)
    if path.is_file():
        model.load_state_dict(torch.load(path, weights_only=True))
        return Trained(model.eval(), path, True, 0.0)
    started = time.perf_counter()
    model = train(config, data, on_epoch)
    seconds = time.perf_counter() - started
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    torch.save(model.state_dict(), partial)
    partial.replace(path)
    return Trained(model, path, False, seconds)
