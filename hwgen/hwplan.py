"""The accelerator's static plan: passes, memory layout and word widths.

A network and an :class:`~hwgen.hwconfig.AccelConfig` fix everything the
hardware does except (in event mode) how many events it visits. This module
computes that plan once, in plain Python; the RTL generator
(:mod:`hwgen.rtl.top`) builds exactly it and the cycle model
(:mod:`hwgen.sim.cycles`) counts it. ``docs/architecture.md`` explains it.

Every weighted layer is walked as a convolution: a ``linear`` layer over a
``[C, H, W]`` input is a convolution whose kernel is the whole input
(``kh = H, kw = W``, output ``[O, 1, 1]``); a ``[F]`` tensor is ``[F, 1, 1]``.
Tensor element :math:`(c, y, x)` lives in bank :math:`c \\bmod P` at address
:math:`\\lfloor c/P \\rfloor HW + yW + x`.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np

from .fixedpoint import input_range, signed_range, width_for
from .errors import HwgenError
from .hwconfig import AccelConfig, MembraneRam, Mode, WeightStore
from .network import Layer, Network, Op


class Kind(enum.Enum):
    """What one pass of the engine does."""

    CONV = "conv"        #: weighted layer: membranes, fire, spike write (or output accumulate)
    CACHED = "cached"    #: first layer at t >= 1: current read from the cache, one token a group
    POOL = "pool"        #: stand-alone sumpool2d, one channel per lane
    SCAN = "scan"        #: event mode: compact the non-zero inputs of the next layer


@dataclass(frozen=True)
class Walk:
    """The loop nest of a pass (SPEC order is irrelevant: sums are exact).

    ``for py < qh, px < qw, g < groups, dy < pkh, dx < pkw`` visits output
    position :math:`(o_y, o_x) = (p_y k_h^{pool} + d_y, p_x k_w^{pool} + d_x)`
    of channel group ``g``; each such *group* visits its valid taps
    :math:`(k_y, k_x)` (input row :math:`i_y = o_y s_h - p_h + k_y` inside
    ``[0, ih)``), padded taps are skipped. A group without a valid tap, a
    ``flat`` or ``cached`` group, has one pseudo-tap.
    """

    ih: int
    iw: int
    kh: int = 1
    kw: int = 1
    sh: int = 1
    sw: int = 1
    ph: int = 0
    pw: int = 0
    oh: int = 1
    ow: int = 1
    pkh: int = 1
    pkw: int = 1
    groups: int = 1
    flat: bool = False      #: one pseudo-tap per group (event-mode linear, cached)

    @property
    def qh(self) -> int:
        return self.oh // self.pkh

    @property
    def qw(self) -> int:
        return self.ow // self.pkw

    def tap_range(self, o: int, axis: int) -> tuple[int, int]:
        """Inclusive valid tap range ``(lo, hi)`` for output row/col ``o`` (lo > hi: none)."""
        k, s, p, i = (self.kh, self.sh, self.ph, self.ih) if axis == 0 else (self.kw, self.sw, self.pw, self.iw)
        return max(0, p - o * s), min(k - 1, i - 1 + p - o * s)

    def valid_taps(self) -> np.ndarray:
        """``[oh, ow]`` count of valid taps per output position."""
        rows = [max(0, hi - lo + 1) for lo, hi in (self.tap_range(o, 0) for o in range(self.oh))]
        cols = [max(0, hi - lo + 1) for lo, hi in (self.tap_range(o, 1) for o in range(self.ow))]
        return np.outer(rows, cols)


@dataclass(frozen=True)
class Pass:
    """One pass of the engine over a layer (see :class:`Kind`).

    ``src``/``dst`` are buffers 0 (input image), 1, 2 (ping-pong);
    ``dst = -1`` writes no buffer (the output layer). ``layer`` indexes
    ``network.layers`` (the pool's layer for a fused pool is ``layer + 1``).
    """

    kind: Kind
    layer: int
    src: int
    dst: int
    walk: Walk
    channels: int            #: C of the input tensor (tokens a tap, dense)
    event: bool = False      #: CONV reads the event list made by the preceding SCAN
    wbase: int = 0           #: weight ROM base of group 0 (per lane)
    ckk: int = 0             #: weights a row: C * kh * kw
    bbase: int = 0           #: bias ROM base
    nbase: int = 0           #: membrane RAM base
    threshold: int = 1
    burst: int = 0
    v_init: int = 0
    bits: int = 2            #: saturation width (v_bits or acc_bits)
    write_cache: bool = False
    output: bool = False     #: the final accumulate-only layer
    fused_pool: bool = False
    flat_list: bool = False  #: event list of flat indices (linear consumer), one offsets entry

    @property
    def name(self) -> str:
        return f"{self.kind.value}{self.layer}"


@dataclass(frozen=True)
class Tensor:
    shape: tuple[int, int, int]
    lo: int
    hi: int


@dataclass
class Plan:
    """Everything static about one accelerator (see module docstring)."""

    network: Network
    config: AccelConfig
    tensors: list[Tensor]                 #: the input and every pass's output, as (C, H, W)
    first: list[Pass]                     #: passes of timestep 0
    rest: list[Pass]                      #: passes of every later timestep
    buffer_depth: list[int]               #: words per bank of buffers 0, 1, 2
    value_bits: int                       #: signed width of buffered values
    weight_bits: int
    acc_bits: int                         #: signed width of partial sums and currents
    mem_bits: int                         #: membrane / accumulator RAM width
    max_burst: int
    weights: np.ndarray                   #: [P, depth] weight ROM contents
    biases: np.ndarray                    #: [P, depth] bias ROM contents
    mem_depth: int
    cache_depth: int
    cache_bits: int
    list_depth: int                       #: event list entries
    offsets_depth: int
    index_bits: int                       #: event entry index width (flat index or c kh kw)
    out_nbase: int = 0
    out_shape: tuple[int, int, int] = (1, 1, 1)
    out_bits: int = 32
    extra: dict = field(default_factory=dict)

    @property
    def lanes(self) -> int:
        return self.config.lanes

    @property
    def passes(self) -> list[Pass]:
        return self.first + self.rest

    @property
    def buffer_base(self) -> list[int]:
        """Word offset of buffers 0, 1, 2 in a bank (the three share one memory per bank).

        The ping-pong buffers 1 and 2 come first and the image (buffer 0)
        last, so a bank holding fewer of the image's channels ends earlier
        (:meth:`bank_depth`).
        """
        d0, d1, d2 = self.buffer_depth
        return [d1 + d2, 0, d1]

    @property
    def fire_bits(self) -> int:
        """Signed width of a firing value and its threshold (the fire unit's subtraction,
        :class:`hwgen.rtl.fire.FireUnit`): the widest spiking layer's ``v_bits`` or
        :math:`\\theta`, whichever needs more."""
        return max([max(q.bits, int(q.threshold).bit_length() + 1) for q in self.passes if q.burst > 0] + [2])

    def bank_depth(self, bank: int) -> int:
        """Words of spike-buffer bank ``bank``: buffers 1 and 2, then the image channels
        :math:`c \\equiv bank \\pmod P` (a 1-channel image lives in bank 0 only).
        When a pool pass reads the image, every lane reads its own bank there, so
        every bank keeps the whole image region."""
        c, h, w = self.tensors[0].shape
        image_pool = any(q.kind is Kind.POOL and q.src == 0 for q in self.passes)
        channels = -(-c // self.lanes) if image_pool else len(range(bank, c, self.lanes))
        return max(1, self.buffer_depth[1] + self.buffer_depth[2] + channels * h * w)

    @property
    def loaded(self) -> bool:
        """Whether the weights are loaded at run time (``AccelConfig.weights``)."""
        return self.config.weights is WeightStore.LOADED

    @property
    def single_port(self) -> bool:
        """Whether the membranes are single-port RAMs (``AccelConfig.membranes``)."""
        return self.config.membranes is MembraneRam.SPRAM

    def weight_words(self) -> list[int]:
        r"""The words of the loaded weight bank (:mod:`hwgen.rtl.weightbank`), in address order:
        word :math:`a = \sum_i (w_{i,a} \bmod 2^{b_w}) \, 2^{i b_w}` over the lanes :math:`i`."""
        wb = self.weight_bits
        fields = (self.weights.astype(np.int64) & ((1 << wb) - 1)).T
        return [sum(int(v) << (i * wb) for i, v in enumerate(row)) for row in fields]

    def to_json(self) -> dict:
        """Parameters and memory sizes (the generator's JSON)."""
        p = self.lanes
        depth = int(self.weights.shape[1])
        return {
            "config": self.config.to_json(),
            "timesteps": self.network.timesteps,
            "input_shape": list(self.network.input.shape), "input_bits": self.network.input.bits,
            "input_signed": self.network.input.signed,
            "classes": self.network.classes, "logit_bits": self.out_bits,
            "widths": {"value": self.value_bits, "weight": self.weight_bits, "acc": self.acc_bits,
                       "membrane": self.mem_bits, "cache": self.cache_bits, "max_burst": self.max_burst},
            "memories": {
                "weight_rom": {"banks": 0 if self.loaded else p, "depth": depth, "width": self.weight_bits},
                "weight_bank": {"banks": int(self.loaded), "depth": depth, "width": p * self.weight_bits},
                "bias_rom": {"banks": p, "depth": int(self.biases.shape[1]), "width": self.acc_bits},
                "membrane_ram": {"banks": p, "depth": self.mem_depth, "width": self.mem_bits,
                                 "single_port": self.single_port},
                "cache_ram": {"banks": p if self.cache_depth else 0, "depth": self.cache_depth,
                              "width": self.cache_bits},
                "buffers": [{"banks": p, "depth": d, "width": self.value_bits} for d in self.buffer_depth],
                "buffer_banks": [self.bank_depth(b) for b in range(p)],
                "event_list": {"depth": self.list_depth if self.config.mode is Mode.EVENT else 0,
                               "offsets": self.offsets_depth if self.config.mode is Mode.EVENT else 0},
            },
            "passes_t0": [q.name for q in self.first], "passes_t": [q.name for q in self.rest],
        }


def _as3(shape) -> tuple[int, int, int]:
    return tuple(shape) if len(shape) == 3 else (int(shape[0]), 1, 1)


def _fusable(layers, i: int) -> bool:
    """A spiking weighted layer followed by a non-overlapping unpadded pool."""
    if i + 1 >= len(layers) or layers[i].neuron is None or layers[i].op is not Op.CONV2D:
        return False
    pool = layers[i + 1]
    return pool.op is Op.SUMPOOL2D and pool.stride == pool.kernel and pool.padding == (0, 0)


def _row_bounds(weight: np.ndarray, bias, lo: int, hi: int) -> tuple[int, int]:
    """Bounds of every partial sum of :math:`\\sum_j w_j s_j` and of the final current."""
    w = weight.reshape(len(weight), -1).astype(object)
    neg = np.minimum(w * lo, w * hi).sum(axis=1)
    pos = np.maximum(w * lo, w * hi).sum(axis=1)
    b = np.zeros(len(w), dtype=object) if bias is None else bias.astype(object)
    return int(min(0, min(neg + np.minimum(b, 0)))), int(max(0, max(pos + np.maximum(b, 0))))


def min_group_tokens(q: Pass) -> int:
    """Fewest tokens of a group of the dense pass ``q``: :math:`C_{in}` times the fewest valid
    taps over the output positions it visits (:mod:`sim.cycles`)."""
    w = q.walk
    return int(q.channels * w.valid_taps()[:w.qh * w.pkh, :w.qw * w.pkw].min())


def _check_single_port(layers: list[Layer], passes: list[Pass]) -> None:
    """Single-port membranes (:class:`hwgen.rtl.spram.SinglePortRam`) need two tokens a group."""
    for q in passes:
        if q.kind is Kind.CACHED:
            raise HwgenError(f"layer {q.layer} ({layers[q.layer].op.value}): the cached current is read one "
                             "token a group; membranes='spram' needs two or more per group: turn the cache off "
                             "(cache=False, --cache off)")
        if q.kind is Kind.CONV and (n := min_group_tokens(q)) < 2:
            raise HwgenError(f"layer {q.layer} ({layers[q.layer].op.value}): a group of {max(n, 1)} token; "
                             "membranes='spram' needs two or more per group; use membranes='block'")


def build_plan(network: Network, config: AccelConfig) -> Plan:
    """Compute the :class:`Plan` of ``network`` on ``config``."""
    P, event = config.lanes, config.mode is Mode.EVENT
    layers, steps = network.layers, network.timesteps
    lo, hi = input_range(network.input.bits, network.input.signed)
    tensors = [Tensor(_as3(network.input.shape), lo, hi)]
    buf_of = [0]
    wrows, brows, acc_lo, acc_hi = [], [], [0], [0]
    wbits, mem_bits, bursts = [2], [2], [0]
    first, rest, nbase, cache_depth, cache_bits = [], [], 0, 0, 2
    list_depth, offsets_depth, index_max = 1, 1, 1
    out_nbase, out_bits, out_shape = 0, 32, (1, 1, 1)
    i = 0
    while i < len(layers):
        layer: Layer = layers[i]
        src = tensors[-1]
        c, h, w = src.shape
        dst = 1 if buf_of[-1] != 1 else 2
        if layer.op is Op.SUMPOOL2D:
            (kh, kw), (sh, sw), (ph, pw) = layer.kernel, layer.stride, layer.padding
            oc, oh, ow = _as3(layer.output_shape((c, h, w)))
            walk = Walk(h, w, kh, kw, sh, sw, ph, pw, oh, ow, groups=math.ceil(c / P))
            q = Pass(Kind.POOL, i, buf_of[-1], dst, walk, c, bits=0)
            first.append(q)
            rest.append(q)
            kk = kh * kw
            tensors.append(Tensor((oc, oh, ow), kk * min(src.lo, 0), kk * max(src.hi, 0)))
            acc_lo.append(tensors[-1].lo)
            acc_hi.append(tensors[-1].hi)
            buf_of.append(dst)
            i += 1
            continue
        weight = layer.weight
        if layer.op is Op.LINEAR:
            weight = weight.reshape(len(weight), c, h, w)
            geo = dict(kh=h, kw=w, oh=1, ow=1)
        else:
            (kh, kw), (sh, sw), (ph, pw) = weight.shape[2:], layer.stride, layer.padding
            _, oh, ow = layer.output_shape((c, h, w))
            geo = dict(kh=kh, kw=kw, sh=sh, sw=sw, ph=ph, pw=pw, oh=oh, ow=ow)
        out_c, groups = len(weight), math.ceil(len(weight) / P)
        fused = _fusable(layers, i)
        pk = layers[i + 1].kernel if fused else (1, 1)
        walk = Walk(h, w, pkh=pk[0], pkw=pk[1], groups=groups, **geo)
        ckk = weight[0].size
        rows = np.zeros((groups * P, ckk), dtype=np.int64)
        rows[:out_c] = weight.reshape(out_c, ckk)
        wrows.append(rows.reshape(groups, P, ckk).transpose(1, 0, 2).reshape(P, groups * ckk))
        bias = np.zeros(groups * P, dtype=np.int64)
        if layer.bias is not None:
            bias[:out_c] = layer.bias
        brows.append(bias.reshape(groups, P).T)
        wbits.append(width_for(int(weight.min()), int(weight.max())))
        a_lo, a_hi = _row_bounds(weight, layer.bias, src.lo, src.hi)
        acc_lo.append(a_lo)
        acc_hi.append(a_hi)
        neuron = layer.neuron
        bits = neuron.v_bits if neuron else layer.acc_bits
        mem_bits.append(bits)
        common = dict(layer=i, src=buf_of[-1], dst=-1 if neuron is None else dst, channels=c,
                      wbase=sum(r.shape[1] for r in wrows[:-1]), ckk=ckk,
                      bbase=sum(r.shape[1] for r in brows[:-1]), nbase=nbase, bits=bits,
                      output=neuron is None, fused_pool=fused)
        if neuron:
            common.update(threshold=neuron.threshold, burst=neuron.burst, v_init=neuron.v_init)
            bursts.append(neuron.burst)
        cached = i == 0 and steps > 1 and config.cache
        if cached:
            cache_depth, cache_bits = groups * walk.oh * walk.ow, width_for(a_lo, a_hi)
        for timestep_list, t0 in ((first, True), (rest, False)):
            if cached and not t0:
                timestep_list.append(Pass(Kind.CACHED, walk=Walk(h, w, oh=walk.oh, ow=walk.ow, pkh=pk[0],
                                                                 pkw=pk[1], groups=groups, flat=True),
                                          **common))
                continue
            if event:
                flat = layer.op is Op.LINEAR
                timestep_list.append(Pass(Kind.SCAN, i, buf_of[-1], -1, Walk(h, w, oh=h, ow=w), c,
                                          flat_list=flat))
                list_depth = max(list_depth, c * h * w)
                # entry index: flat input index (linear) or the channel's weight offset c kh kw (conv)
                index_max = max(index_max, c * h * w if flat else c * geo["kh"] * geo["kw"])
                offsets_depth = max(offsets_depth, 1 if flat else h * w)
                walk_e = Walk(h, w, pkh=pk[0], pkw=pk[1], groups=groups, flat=True, **geo) if flat else walk
                timestep_list.append(Pass(Kind.CONV, walk=walk_e, event=True, write_cache=cached,
                                          flat_list=flat, **common))
            else:
                timestep_list.append(Pass(Kind.CONV, walk=walk, write_cache=cached, **common))
        nbase += groups * walk.oh * walk.ow
        if neuron is None:
            out_nbase, out_bits, out_shape = common["nbase"], layer.acc_bits, (out_c, walk.oh, walk.ow)
            break
        out_shape3 = (out_c, walk.qh, walk.qw)
        tensors.append(Tensor(out_shape3, 0, neuron.burst * pk[0] * pk[1]))
        buf_of.append(dst)
        i += 2 if fused else 1
    if config.membranes is MembraneRam.SPRAM:
        _check_single_port(layers, first + rest)
    p_depth = [0, 0, 0]
    for tensor, buf in zip(tensors, buf_of):
        c, h, w = tensor.shape
        p_depth[buf] = max(p_depth[buf], math.ceil(c / P) * h * w)
    value_bits = max(width_for(t.lo, t.hi) for t in tensors)
    acc_bits = max(width_for(min(acc_lo), max(acc_hi)), value_bits)
    return Plan(network, config, tensors, first, rest, [max(1, d) for d in p_depth], value_bits,
                max(wbits), acc_bits, max(mem_bits), max(bursts),
                np.concatenate(wrows, axis=1), np.concatenate(brows, axis=1),
                nbase, cache_depth, cache_bits, list_depth, offsets_depth,
                max(1, int(index_max - 1).bit_length()), out_nbase, out_shape, out_bits)

