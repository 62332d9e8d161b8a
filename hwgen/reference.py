"""Float reference models in torch, sharing the golden model's structure.

One chain of :class:`FloatLayer` describes three models, so a user can split
the error of the integer SNN into its parts:

* :func:`ann_logits`: the ANN with its activations (float ANN in the
  normalised frame, or the *quantised ANN* when the weights are the integer
  ones divided by θ);
* :func:`snn_logits`: IF neurons, reset by subtraction, burst cap, analog
  input each step, no saturation (the float SNN); :func:`snn_currents`
  gives one layer's input current at every step of it.

And, from an integer :class:`~hwgen.network.Network` alone,
:func:`quantised_ann`: the integer-quantised ANN the network stands for (no
neuron state; with QCFS, ``Γ = L`` and ``T = 1`` the SNN equals it exactly).

Normalised frame: each spiking layer's values are in units of its spike
unit :math:`u_l = \\lambda_l/\\Gamma_l`, so thresholds are 1 and an
activation's clip level is :math:`\\Gamma_l`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .convert.fir import Act, ActKind
from .network import Layer, Network, Op


@dataclass(frozen=True, eq=False)
class FloatLayer:
    """A layer of a float reference chain (see module docstring)."""

    name: str
    op: str
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    kernel: tuple[int, int] | None = None
    act: Act | None = None
    threshold: float = 1.0
    v_init: float = 0.5
    burst: int = 1

    @property
    def spiking(self) -> bool:
        return self.op != "sumpool2d" and self.act is not None


@dataclass(frozen=True, eq=False)
class FloatNetwork:
    """A float chain; inputs are integer pixels times ``input_scale``."""

    layers: tuple[FloatLayer, ...]
    input_scale: float
    timesteps: int = 1


def activation(act: Act, z: torch.Tensor) -> torch.Tensor:
    """The ANN activation with threshold ``act.lam``.

    .. math:: \\mathrm{QCFS}(z) = \\frac{\\lambda}{L}\\,
              \\mathrm{clip}(\\lfloor zL/\\lambda + 1/2 \\rfloor, 0, L)
    """
    if act.kind is ActKind.RELU and act.lam is None:
        return torch.relu(z)
    if act.kind is ActKind.QCFS:
        steps = act.levels
        return torch.clamp(torch.floor(z * steps / act.lam + 0.5), 0, steps) * (act.lam / steps)
    return torch.clamp(z, 0, act.lam)


def apply_layer(layer: FloatLayer, s: torch.Tensor) -> torch.Tensor:
    """The weighted sum (or sum pool) of ``layer`` on ``s``."""
    if layer.op == "sumpool2d":
        return F.avg_pool2d(s, layer.kernel, layer.stride, layer.padding, divisor_override=1)
    if layer.op == "linear":
        return F.linear(s.flatten(1), layer.weight, layer.bias)
    return F.conv2d(s, layer.weight, layer.bias, layer.stride, layer.padding)


def _input(network: FloatNetwork, x, dtype) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=dtype) * network.input_scale


def _cast(network: FloatNetwork, dtype) -> list[FloatLayer]:
    def conv(t):
        return None if t is None else t.to(dtype)
    return [FloatLayer(l.name, l.op, conv(l.weight), conv(l.bias), l.stride, l.padding, l.kernel, l.act,
                       l.threshold, l.v_init, l.burst) for l in network.layers]


@torch.no_grad()
def ann_logits(network: FloatNetwork, x, *, record: dict | None = None,
               dtype=torch.float32, batch_size: int = 1024) -> np.ndarray:
    """Logits of the chain run as an ANN.

    Parameters
    ----------
    record : dict, optional
        Filled with each activation layer's pre-activations (name -> tensor).
    """
    layers, outs = _cast(network, dtype), []
    for start in range(0, len(x), batch_size):
        s = _input(network, x[start:start + batch_size], dtype)
        for layer in layers:
            s = apply_layer(layer, s)
            if layer.spiking:
                if record is not None:
                    record.setdefault(layer.name, []).append(s)
                s = activation(layer.act, s)
        outs.append(s.flatten(1).double().numpy())
    if record is not None:
        for name, parts in record.items():
            record[name] = torch.cat(parts)
    return np.concatenate(outs)


def fire(v: torch.Tensor, threshold, burst) -> tuple[torch.Tensor, torch.Tensor]:
    """Burst IF firing with reset by subtraction on a float membrane.

    .. math:: k = \\mathrm{clamp}(\\lfloor V/\\theta \\rfloor, 0, \\Gamma),
              \\qquad V' = V - k\\theta

    ``threshold`` and ``burst`` may be tensors that broadcast against ``v``.
    Returns ``(k, V')``.
    """
    k = torch.clamp(torch.floor(v / threshold), 0, burst)
    return k, v - k * threshold


def _simulate(layers: list[FloatLayer], x_in: torch.Tensor, steps: int, stop: int | None = None):
    """Run the float SNN for ``steps`` steps (see :func:`snn_logits`).

    Returns the membrane state per layer name and, when ``stop`` is a layer
    index, the current that layer receives at each step (the layers from
    ``stop`` on are then not run).
    """
    state: dict[str, torch.Tensor] = {}
    currents, first = [], None
    for _ in range(steps):
        s = x_in
        for index, layer in enumerate(layers):
            if index == 0 and first is not None:
                current = first
            else:
                current = apply_layer(layer, s)
                first = current if index == 0 else first
            if index == stop:
                currents.append(current)
                break
            if layer.op == "sumpool2d":
                s = current
                continue
            v = state.get(layer.name)
            v = current + (layer.v_init * layer.threshold if v is None and layer.act else 0) + \
                (0 if v is None else v)
            if layer.act is None:
                state[layer.name] = v
                continue
            s, state[layer.name] = fire(v, layer.threshold, layer.burst)
    return state, currents


@torch.no_grad()
def snn_logits(network: FloatNetwork, x, *, timesteps: int | None = None,
               dtype=torch.float32, batch_size: int = 1024) -> np.ndarray:
    """Logits of the chain run as a float IF/burst SNN for ``timesteps`` steps.

    Per spiking layer: :math:`V \\leftarrow V + I`,
    :math:`k = \\mathrm{clamp}(\\lfloor V/\\theta \\rfloor, 0, \\Gamma)`,
    :math:`V \\leftarrow V - k\\theta`; the last layer accumulates ``I``.
    """
    steps = timesteps or network.timesteps
    layers, outs = _cast(network, dtype), []
    for start in range(0, len(x), batch_size):
        state, _ = _simulate(layers, _input(network, x[start:start + batch_size], dtype), steps)
        outs.append(state[layers[-1].name].flatten(1).double().numpy())
    return np.concatenate(outs)


@torch.no_grad()
def snn_currents(network: FloatNetwork, x, index: int, *, timesteps: int | None = None,
                 dtype=torch.float32) -> torch.Tensor:
    """The input current of layer ``index`` at every step of the float SNN.

    Returns a tensor ``[T, N, *shape]``: :math:`I_t = W \\circledast s_{t} + b`
    with :math:`s_t` the spikes layer ``index - 1`` emits at step ``t``
    (the analog input for the first layer), as :func:`snn_logits` computes it.
    """
    steps = timesteps or network.timesteps
    _, currents = _simulate(_cast(network, dtype), _input(network, x, dtype), steps, stop=index)
    return torch.stack(currents)


# --- the integer-quantised ANN of a Network (numpy, exact int64) ------------

def _windows(a: np.ndarray, layer: Layer, window: tuple[int, int]) -> np.ndarray:
    """``[N, C, Ho, Wo, kh, kw]`` zero-padded windows of ``a`` ``[N, C, H, W]``."""
    ph, pw = layer.padding
    padded = np.pad(a, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    view = np.lib.stride_tricks.sliding_window_view(padded, window, axis=(2, 3))
    return view[:, :, ::layer.stride[0], ::layer.stride[1]]


def _integer_layer(layer: Layer, a: np.ndarray) -> np.ndarray:
    """``W ⊛ a + b`` (or the window sum of a sum pool), exact in int64."""
    if layer.op is Op.SUMPOOL2D:
        return _windows(a, layer, layer.kernel).sum(axis=(-2, -1))
    weight = layer.weight.astype(np.int64)
    bias = np.zeros(len(weight), dtype=np.int64) if layer.bias is None else layer.bias.astype(np.int64)
    if layer.op is Op.LINEAR:
        return np.einsum("ni,oi->no", a.reshape(len(a), -1), weight) + bias
    windows = _windows(a, layer, weight.shape[2:])
    return np.einsum("nchwij,ocij->nohw", windows, weight) + bias[:, None, None]


def quantised_ann(network: Network, x) -> tuple[np.ndarray, np.ndarray]:
    """The integer-quantised ANN of ``network``: one pass, no membrane state.

    For each spiking layer with threshold θ, burst cap Γ and ``v_init``:

    .. math:: a = \\mathrm{clamp}(\\lfloor (W \\circledast a_{in} + b + v_{init})/\\theta
              \\rfloor, 0, \\Gamma)

    sum pools sum their window, and the output layer gives ``W a + b``.
    This is what one SNN timestep computes when nothing saturates, so with
    ``T = 1`` (and QCFS with ``Γ = L``) it equals the golden model exactly;
    it is written independently of :mod:`hwgen.sim.golden` to check it.

    Parameters
    ----------
    network : Network
    x : array_like of int
        Input pixels ``[N, *input.shape]``.

    Returns
    -------
    logits : ndarray of int64, ``[N, classes]``
    prediction : ndarray of int64, ``[N]`` (argmax, lowest index on a tie)
    """
    a = np.asarray(x).astype(np.int64)
    for layer in network.layers:
        z = _integer_layer(layer, a)
        if layer.op is Op.SUMPOOL2D:
            a = z
        elif layer.neuron is None:
            logits = z.reshape(len(z), -1)
            return logits, np.argmax(logits, axis=1)
        else:
            n = layer.neuron
            a = np.clip(np.floor_divide(z + n.v_init, n.threshold), 0, n.burst)
    raise ValueError("network has no output layer")
