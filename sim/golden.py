"""The bit-exact golden model of an ``hwgen-snn/1`` network (SPEC.md §2).

Vectorised numpy over a batch of images, exact int64 state. For each
timestep :math:`t = 0..T-1` and each layer in order:

.. math::

    I &= W \\circledast s_{in} + b \\\\
    V &\\leftarrow \\mathrm{sat}(V + I,\\ v_{bits}) \\\\
    k &= \\mathrm{clamp}(\\lfloor V/\\theta \\rfloor, 0, \\Gamma),
    \\quad V \\leftarrow V - k\\theta, \\quad s_{out} = k

The first layer sees the same pixels every step, so its current is computed
once. The final layer accumulates :math:`V \\leftarrow \\mathrm{sat}(V + I,
acc_{bits})` from 0; its ``V`` after ``T`` steps are the logits.
"""
from __future__ import annotations

from dataclasses import dataclass

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from hwgen.errors import HwgenError
from hwgen.fixedpoint import (accumulator_range, current_bounds, fire, input_range, membrane_range,
                              saturate_count, signed_range)
from hwgen.network import Network, Op

from .ops import matmul_dtype, sum_pool, weighted_sum


@dataclass
class GoldenResult:
    """What one batch of inferences produced.

    Attributes
    ----------
    logits : ndarray of int64, ``[N, classes]``
    prediction : ndarray of int64, ``[N]`` (argmax, lowest index on a tie)
    spikes : dict of layer name -> ndarray ``[N, T]``
        Spike count (sum of ``k``) each spiking layer emitted at each step.
    active : dict of layer name -> ndarray ``[N, T]``
        Neurons with ``k > 0`` per step (what an event-driven design visits).
    saturations : dict of layer name -> ndarray ``[N]``
        Saturation events of each layer with a membrane or accumulator.
    step_logits : ndarray of int64, ``[N, T, classes]``
        The output accumulator after each step: ``step_logits[:, t-1]`` are the
        logits the same network would give with ``timesteps = t``.
    """

    logits: np.ndarray
    prediction: np.ndarray
    spikes: dict[str, np.ndarray]
    active: dict[str, np.ndarray]
    saturations: dict[str, np.ndarray]
    step_logits: np.ndarray

    def spike_totals(self) -> dict[str, np.ndarray]:
        """Per-layer spike totals over all timesteps, ``[N]`` each."""
        return {name: counts.sum(axis=1) for name, counts in self.spikes.items()}

    @classmethod
    def concatenate(cls, parts: list["GoldenResult"]) -> "GoldenResult":
        def cat(dicts):
            return {k: np.concatenate([d[k] for d in dicts]) for k in dicts[0]}

        return cls(np.concatenate([p.logits for p in parts]), np.concatenate([p.prediction for p in parts]),
                   cat([p.spikes for p in parts]), cat([p.active for p in parts]),
                   cat([p.saturations for p in parts]),
                   np.concatenate([p.step_logits for p in parts]))


def check_inputs(network: Network, x) -> np.ndarray:
    """Validate ``x`` (``[N, *input.shape]``, integers in range) as int64."""
    x = np.asarray(x)
    spec = network.input
    if x.dtype.kind not in "iu":
        raise HwgenError(f"input must have an integer dtype, got {x.dtype}")
    if x.shape[1:] != tuple(spec.shape):
        raise HwgenError(f"input must have shape [N, {', '.join(map(str, spec.shape))}], got {list(x.shape)}")
    lo, hi = input_range(spec.bits, spec.signed)
    if x.size and (x.min() < lo or x.max() > hi):
        raise HwgenError(f"input values must lie in [{lo}, {hi}] ({spec.bits}-bit), "
                         f"got [{x.min()}, {x.max()}]")
    return x.astype(np.int64)


def _plan(network: Network) -> list[np.dtype | None]:
    """Per layer: the exact matmul dtype (None for pools)."""
    lo, hi = input_range(network.input.bits, network.input.signed)
    in_max, dtypes = max(abs(lo), abs(hi)), []
    for layer in network.layers:
        if layer.op is Op.SUMPOOL2D:
            dtypes.append(None)
            in_max *= layer.kernel[0] * layer.kernel[1]
        else:
            dtypes.append(matmul_dtype(layer, in_max))
            in_max = layer.neuron.burst if layer.neuron else 0
    return dtypes


def _unsaturable(network: Network) -> list[bool]:
    """Per layer: True where worst-case bounds prove ``sat`` is the identity.

    Uses the converter's own bounds (:func:`~hwgen.fixedpoint.current_bounds`,
    :func:`~hwgen.fixedpoint.membrane_range`); the golden model then skips the
    range check for that layer. Inputs are in range (:func:`check_inputs`).
    """
    lo, hi = input_range(network.input.bits, network.input.signed)
    proofs = []
    for layer in network.layers:
        if layer.op is Op.SUMPOOL2D:
            area = layer.kernel[0] * layer.kernel[1]
            lo, hi = min(lo, lo * area), hi * area
            proofs.append(False)
            continue
        i_lo, i_hi = current_bounds(layer.weight, layer.bias, lo, hi)
        if layer.neuron is None:
            v_lo, v_hi = accumulator_range(i_lo, i_hi, network.timesteps)
            bits = layer.acc_bits
        else:
            n = layer.neuron
            v_lo, v_hi = membrane_range(i_lo, i_hi, n.threshold, n.v_init, n.burst, network.timesteps)
            bits, (lo, hi) = n.v_bits, (0, n.burst)
        s_lo, s_hi = signed_range(bits)
        proofs.append(s_lo <= v_lo and v_hi <= s_hi)
    return proofs


def _run_batch(network: Network, x: np.ndarray, dtypes, trace=None, unsaturable=None) -> GoldenResult:
    n, steps = x.shape[0], network.timesteps
    shapes = network.shapes
    state, spikes, active, sats = {}, {}, {}, {}
    for layer, shape in zip(network.layers, shapes[1:]):
        if layer.has_weights:
            start = layer.neuron.v_init if layer.neuron else 0
            state[layer.name] = np.full((n, *shape), start, dtype=np.int64)
            sats[layer.name] = np.zeros(n, dtype=np.int64)
        if layer.neuron:
            spikes[layer.name] = np.zeros((n, steps), dtype=np.int64)
            active[layer.name] = np.zeros((n, steps), dtype=np.int64)
    first_current, step_logits = None, []
    for t in range(steps):
        s = x
        for index, (layer, dtype) in enumerate(zip(network.layers, dtypes)):
            if layer.op is Op.SUMPOOL2D:
                s = sum_pool(layer, s)
                if trace:
                    trace(t, index, s)
                continue
            if index == 0:
                if first_current is None:
                    first_current = weighted_sum(layer, s, dtype)
                current = first_current
            else:
                current = weighted_sum(layer, s, dtype)
            bits = layer.neuron.v_bits if layer.neuron else layer.acc_bits
            if unsaturable and unsaturable[index]:
                v = state[layer.name] + current
            else:
                v, events = saturate_count(state[layer.name] + current, bits)
                sats[layer.name] += events
            if layer.neuron is None:
                state[layer.name] = v
                step_logits.append(v.reshape(n, math.prod(v.shape[1:])))
                continue
            s, state[layer.name] = fire(v, layer.neuron.threshold, layer.neuron.burst, inplace=True)
            if trace:
                trace(t, index, s)
            flat = s.reshape(n, math.prod(s.shape[1:]))
            spikes[layer.name][:, t] = flat.sum(axis=1)
            active[layer.name][:, t] = np.count_nonzero(flat, axis=1)
    out = state[network.layers[-1].name]
    logits = out.reshape(n, math.prod(out.shape[1:]))
    return GoldenResult(logits, np.argmax(logits, axis=1), spikes, active, sats,
                        np.stack(step_logits, axis=1))


def run(network: Network, x, *, batch_size: int = 512, progress=None, trace=None) -> GoldenResult:
    """Run the golden model on images ``x`` of shape ``[N, *input.shape]``.

    Parameters
    ----------
    network : Network
    x : array_like of int
        Pixels in the input range (uint8 for 8-bit unsigned inputs).
    batch_size : int
        Images simulated together (memory vs. vectorisation).
    progress : callable, optional
        Called with the number of images finished after each batch.
    trace : callable, optional
        Called as ``trace(t, layer_index, s)`` with every spiking or pool
        layer's output ``s`` (``[batch, *shape]``) at every step, batch by
        batch in image order (the cycle model's event counts use it).
    """
    x = check_inputs(network, x)
    dtypes, unsaturable = _plan(network), _unsaturable(network)
    batches = [x[start:start + batch_size] for start in range(0, max(len(x), 1), batch_size)]
    workers = 1 if trace is not None else min(len(batches), os.cpu_count() or 1)
    parts = []
    # numpy releases the GIL in its loops, so batches run in parallel threads;
    # with a trace hook they run in order on this thread.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(lambda batch: _run_batch(network, batch, dtypes, trace, unsaturable), batches):
            parts.append(part)
            if progress:
                progress(len(part.logits))
    return GoldenResult.concatenate(parts)
