r"""The cycle model: exact start-to-done cycles of one inference.

This is the one function that documents the accelerator's timing
(``docs/architecture.md`` describes the hardware it counts). An inference
runs the passes of :func:`hwgen.hwplan.build_plan`: ``plan.first`` at
:math:`t = 0`, ``plan.rest`` at every later step. Each pass takes

.. math:: B + N_{tokens} + D

cycles: :math:`B` = ``BEGIN_CYCLES`` to register the pass constants and fill
the walker pipeline, one token issued a cycle with no stall, and a drain
:math:`D` (``drain_cycles``: the token stages and the lane pipeline,
``NeuronLane.latency + ISSUE_STAGES - 1``, or ``SCAN_DRAIN`` for a scan).
The whole inference takes :math:`1 + \sum_{passes} (B + N + D)` (the extra
cycle is ``done``).

Tokens of a pass, summed over its groups (output position :math:`\\times`
channel group :math:`g < \\lceil C_{out}/P \\rceil`, over the positions a
fused pool covers) with :math:`v` the group's valid (unpadded) taps:

* dense conv / linear: :math:`\\max(1, C_{in} v)`;
* event conv: :math:`\\max(1, \\sum_{taps} \\max(1, n_{tap}))` with
  :math:`n_{tap}` the non-zero channels at the tap's input position;
* event linear: :math:`\\max(1, n)`, :math:`n` the non-zero inputs;
* cached (first layer, :math:`t \\ge 1`): 1;
* stand-alone sumpool: :math:`\\max(1, v)`;
* scan (event mode): :math:`\sum_{pos, cd} \max(1, n_{cd,pos})` over the
  input positions and channel groups :math:`cd < \lceil C/P \rceil` (``P``
  channels are read at once, their non-zeros written one a cycle).
"""
from __future__ import annotations

import numpy as np

from hwgen.hwconfig import AccelConfig, Mode
from hwgen.hwplan import Kind, Pass, Plan, build_plan
from hwgen.network import Network
from hwgen.rtl.top import BEGIN_CYCLES, drain_cycles

from .ops import _windows


def _covered(q: Pass, per_position: np.ndarray) -> np.ndarray:
    """Sum of ``per_position [..., oh, ow]`` over the positions the walk visits."""
    w = q.walk
    return per_position[..., :w.qh * w.pkh, :w.qw * w.pkw].sum(axis=(-2, -1))


def pass_tokens(q: Pass, nonzero: np.ndarray | None, n: int, lanes: int = 1) -> np.ndarray:
    """Tokens pass ``q`` issues, ``[n]`` images.

    Parameters
    ----------
    nonzero : ndarray or None
        Event passes only: ``[n, H, W]`` non-zero channel counts per input
        position (conv, linear), or the ``[n, C, H, W]`` non-zero mask (scan).
    lanes : int
        :math:`P` (scan passes read ``P`` channels at once).
    """
    w = q.walk
    if q.kind is Kind.SCAN:
        mask = nonzero.reshape(n, q.channels, w.ih * w.iw)
        groups = -(-q.channels // lanes)
        padded = np.zeros((n, groups * lanes, w.ih * w.iw), dtype=np.int64)
        padded[:, :q.channels] = mask
        per_group = padded.reshape(n, groups, lanes, -1).sum(axis=2)
        return np.maximum(1, per_group).sum(axis=(1, 2))
    if q.kind is Kind.CACHED:
        return np.full(n, w.groups * w.qh * w.pkh * w.qw * w.pkw, dtype=np.int64)
    if q.kind is Kind.POOL:
        return np.full(n, w.groups * _covered(q, np.maximum(1, w.valid_taps())), dtype=np.int64)
    if not q.event:
        return np.full(n, w.groups * _covered(q, np.maximum(1, q.channels * w.valid_taps())), dtype=np.int64)
    if q.flat_list:
        return w.groups * np.maximum(1, nonzero.sum(axis=(1, 2)))
    cost = np.maximum(1, nonzero)[:, None]                            # [n, 1, H, W]: a tap's tokens
    taps = _windows(cost, (w.kh, w.kw), (w.sh, w.sw), (w.ph, w.pw))  # padded taps cost 0
    per_group = np.maximum(1, taps.sum(axis=(-2, -1)))[:, 0]          # [n, oh, ow]
    return w.groups * _covered(q, per_group)


def pass_cycles(plan: Plan, q: Pass, tokens: np.ndarray) -> np.ndarray:
    """Cycles of one pass: load + tokens + drain."""
    return BEGIN_CYCLES + tokens + drain_cycles(q.kind, plan.max_burst)


class _Recorder:
    """Non-zero masks ``[N, C, H, W]`` of every weighted layer's input, per step."""

    def __init__(self, network: Network):
        self.wanted = {i - 1 for i, layer in enumerate(network.layers) if layer.has_weights and i > 0}
        self.maps: dict[tuple[int, int], list[np.ndarray]] = {}

    def __call__(self, t: int, index: int, s: np.ndarray):
        if index in self.wanted:
            self.maps.setdefault((t, index + 1), []).append(_mask(s))

    def get(self, t: int, layer: int) -> np.ndarray:
        return np.concatenate(self.maps[(t, layer)])


def _mask(s: np.ndarray) -> np.ndarray:
    """``[N, C, H, W]`` boolean non-zero mask (a ``[N, F]`` tensor is ``[N, F, 1, 1]``)."""
    s = s if s.ndim == 4 else s.reshape(len(s), -1, 1, 1)
    return s != 0


def inference_cycles(network: Network, config: AccelConfig, x=None, *, plan: Plan | None = None) -> np.ndarray:
    """Exact start-to-done cycles of each image's inference, ``[N]`` int64.

    Parameters
    ----------
    network : Network
    config : AccelConfig
    x : array_like ``[N, *input.shape]``, optional
        The images; needed in event mode (cycles depend on the spikes), and
        in dense mode only for ``N`` (default 1).
    plan : Plan, optional
        A plan already built for ``network`` and ``config``.
    """
    total = np.ones(1 if x is None else len(x), dtype=np.int64)
    for _, tokens, cycles in pass_costs(network, config, x, plan=plan):
        total = total + cycles
    return total


def pass_costs(network: Network, config: AccelConfig, x=None, *, plan: Plan | None = None):
    """Every pass of one inference in order: ``(pass, tokens [N], cycles [N])``.

    The inference's cycles are 1 plus the sum of the passes' cycles
    (:func:`inference_cycles`); event mode needs the images ``x``.
    """
    from . import golden

    plan = plan or build_plan(network, config)
    event = config.mode is Mode.EVENT
    if x is not None:
        x = golden.check_inputs(network, x)
    n = 1 if x is None else len(x)
    record = None
    if event:
        if x is None:
            raise ValueError("event mode needs the images x")
        record = _Recorder(network)
        golden.run(network, x, trace=record)
    for t in range(network.timesteps):
        for q in (plan.first if t == 0 else plan.rest):
            nonzero = None
            if event and q.kind in (Kind.CONV, Kind.SCAN):
                nonzero = _mask(x) if q.layer == 0 else record.get(t, q.layer)
                if q.kind is Kind.CONV:
                    nonzero = nonzero.sum(axis=1)
            tokens = pass_tokens(q, nonzero, n, config.lanes)
            yield q, tokens, pass_cycles(plan, q, tokens)


def synaptic_ops(network: Network) -> int:
    """Multiply-accumulates of one inference (unpadded taps, every step).

    The lower bound of the dense design is ``synaptic_ops / P`` cycles.
    """
    plan = build_plan(network, AccelConfig(1))
    ops = 0
    for q in plan.first:
        if q.kind is Kind.CONV:
            w = q.walk
            out_c = network.layers[q.layer].weight.shape[0]
            ops += out_c * int((q.channels * w.valid_taps()).sum())
    return ops * network.timesteps
