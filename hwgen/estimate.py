r"""``hwgen estimate``: resources, latency and energy without synthesis.

Block RAM and DSP counts follow the plan's memories and lanes the way
yosys maps them (below); LUTs, flip-flops and Fmax come from a linear model
whose coefficients ``hwgen/estimate_model.json`` holds, fitted by
``benchmarks/estimator.py`` against ``hwgen build`` (the README gives its
measured error):

.. math::

    \mathrm{LUT} = a \cdot x_{LUT}, \quad
    \mathrm{FF} = b \cdot x_{FF}, \quad 1/F_{max} = c \cdot x_{F}

with the regressors of :func:`logic_features` per family (:math:`P` lanes,
:math:`b_v` the membrane width, :math:`b_a` the accumulator width,
:math:`C_{buf}` the ECP5 LUT-RAM cells of the spike buffers, :math:`A` the
address bits).
Memories are placed as yosys's ``memory_libmap``
places them, by the cheapest of its costs (:mod:`hwgen.memplace`).
``ram_style = "distributed"`` buffers go to LUT RAM.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from importlib import resources

import numpy as np

from .boards import Board, Family
from .energy import Energy, energy
from .errors import HwgenError
from .hwconfig import AccelConfig, BufferRam, MembraneRam, Multipliers, WeightStore
from .hwplan import Plan, build_plan
from .memplace import placement
from .network import Network
from .rtl.spram import SPRAM_BITS, SPRAM_WORDS, spram_grid
from .rtl.blockmem import LOGIC_ROM_WORDS, Piece, block_words, piece_kinds, pieces, tail_in_logic

def lane_pieces(plan: Plan, mem: dict | None = None) -> list[tuple[str, list[int], int, bool, bool]]:
    """``(name, piece depths, width, is_rom, tail in logic)`` of one lane's weight ROM,
    membrane RAM and current cache (:class:`hwgen.rtl.blockmem.BlockedMemory`);
    ``mem``: ``plan.to_json()["memories"]`` when the caller has it."""
    mem = mem or plan.to_json()["memories"]
    out = []
    for name, rom in (("weight_rom", True), ("membrane_ram", False), ("cache_ram", False)):
        m = mem[name]
        if m["banks"] and not m.get("single_port"):
            words = block_words(m["width"])
            sizes = pieces(m["depth"], words)
            out.append((name, sizes, m["width"], rom, tail_in_logic(sizes, words, rom)))
    return out


def memory_banks(plan: Plan) -> list[tuple[str, int, int, int, bool]]:
    """``(name, banks, depth, width, is_rom)`` of every memory the design has.

    The weight ROM, membrane RAM and current cache are split into pieces of
    :func:`hwgen.rtl.blockmem.block_words` words (one entry per piece); yosys
    places each piece on its own, except a ROM's short tail, which the RTL
    puts in logic (:func:`hwgen.rtl.blockmem.tail_in_logic`; not listed).
    """
    mem = plan.to_json()["memories"]
    bias = mem["bias_rom"]
    out = [("bias_rom", bias["banks"], bias["depth"], bias["width"], True)]
    for name, sizes, width, rom, logic_tail in lane_pieces(plan, mem):
        out += [(name, plan.lanes, size, width, rom) for size in (sizes[:-1] if logic_tail else sizes)]
    # buffers 0 (image), 1, 2 share one memory per bank (rtl_templates/top.py), banks of equal depth grouped
    depths = mem["buffer_banks"]
    out += [("buffers", depths.count(d), d, mem["buffers"][0]["width"], False) for d in sorted(set(depths))]
    bank = mem["weight_bank"]
    if bank["banks"]:
        out.append(("weight_bank", 1, bank["depth"], bank["width"], False))
    vram = mem["membrane_ram"]
    if vram["single_port"]:
        out.append(("membrane_ram", vram["banks"], vram["depth"], vram["width"], False))
    events = mem["event_list"]
    if events["depth"]:
        out.append(("event_list", 1, events["depth"], plan.index_bits + plan.value_bits, False))
        out.append(("event_offsets", 1, events["offsets"], 2 * 16, False))
    return out


def _placements(plan: Plan, family: Family) -> list[tuple[str, str, int]]:
    """``(name, kind, count for all banks)`` of every memory piece."""
    lut_buffers = plan.config.buffers is BufferRam.DISTRIBUTED
    out = []
    for name, banks, depth, width, rom in memory_banks(plan):
        if name == "weight_bank" and family is Family.ICE40:
            columns, rows = spram_grid(plan.lanes * plan.weight_bits, depth)
            out.append((name, "spram", columns * rows))
            continue
        if name == "membrane_ram" and plan.single_port and family is Family.ICE40:
            # hwgen.rtl.spram.SinglePortRam: full 16-bit columns in SPRAM, the rest in EBR
            columns, rows = spram_grid(width // SPRAM_BITS * SPRAM_BITS, depth)    # 0 columns under 16 bits
            out.append((name, "spram", banks * columns * rows))
            width %= SPRAM_BITS
            if not width:
                continue
        kind, count = placement(depth, width, family, rom, lutram=lut_buffers and name == "buffers")
        out.append((name, kind, banks * count))
    return out


def bram_blocks(plan: Plan, family: Family) -> dict[str, int]:
    """Block RAMs per memory (0 where it goes to logic or LUT RAM)."""
    out: dict[str, int] = {}
    for name, kind, count in _placements(plan, family):
        out[name] = out.get(name, 0) + (count if kind == "bram" else 0)
    return out


def spram_blocks(plan: Plan, family: Family) -> int:
    """iCE40 ``SB_SPRAM256KA`` of a loaded weight bank and of single-port membranes
    (:func:`hwgen.rtl.spram.spram_grid`)."""
    return sum(count for _, kind, count in _placements(plan, family) if kind == "spram")


def lutram_cells(plan: Plan, family: Family, memory: str | None = None) -> int:
    """ECP5 ``DPR16X4`` cells (16 words x 4 bits) of every memory placed in LUT RAM, or of
    ``memory`` alone (exact on the 13 ECP5 builds of ``benchmarks/estimator.py``, e.g. 603
    for the demo-shape CNN with LUT-RAM buffers at P = 8)."""
    return sum(count for name, kind, count in _placements(plan, family)
               if kind == "lutram" and memory in (None, name))


def _model() -> dict:
    return json.loads(resources.files("hwgen").joinpath("estimate_model.json").read_text())


def _piece_registers(sizes: list[int], width: int, rom: bool, family: Family) -> int:
    """Registers of ``width`` bits the pieces of one lane memory keep in flip-flops
    (:func:`hwgen.rtl.blockmem.piece_kinds`): a ROM tail in logic one per sub-ROM and its
    output; a piece in an ECP5 block RAM none (the block's own); any other piece one."""
    kinds = piece_kinds(sizes, block_words(width), width, rom, ecp5=family is Family.ECP5)
    return sum(len(pieces(size, LOGIC_ROM_WORDS)) + 1 if kind is Piece.LOGIC else int(kind is Piece.REGISTER)
               for size, kind in zip(sizes, kinds))


def _bank_registers(plan: Plan, family: Family) -> int:
    """Register bits at a loaded weight bank's outputs (:class:`hwgen.rtl.weightbank.WeightBank`):
    16 per iCE40 SPRAM, else those of its pieces (:func:`_piece_registers`); 0 with weight ROMs."""
    if not plan.loaded:
        return 0
    bank = plan.to_json()["memories"]["weight_bank"]
    if family is Family.ICE40:
        cols, rows = spram_grid(plan.lanes * plan.weight_bits, bank["depth"])
        return cols * rows * SPRAM_BITS
    sizes = pieces(bank["depth"], SPRAM_WORDS)
    return bank["width"] * _piece_registers(sizes, bank["width"], False, family)


def _single_port_registers(plan: Plan) -> int:
    """Register bits of single-port membranes (:class:`hwgen.rtl.spram.SinglePortRam`): a word
    per lane (counting the waiting write's word and address as well fitted worse: FF worst
    26 % against 11 % leave-one-out over the sweep)."""
    return plan.lanes * plan.mem_bits if plan.single_port else 0


def address_bits(plan: Plan) -> int:
    """Address bits of the membrane RAM, weight memory, spike buffers and bias ROM: how the
    walker's counters and running addresses grow with the network."""
    def bits(n: int) -> int:
        return max(1, int(n - 1).bit_length())

    return (bits(plan.mem_depth) + bits(plan.weights.shape[1]) + bits(sum(plan.buffer_depth))
            + bits(plan.biases.shape[1]))


def logic_features(plan: Plan, family: Family) -> dict[str, list[float]]:
    r"""Regressors of the LUT, FF and 1/Fmax models (chosen by leave-one-out error over
    the calibration sweep, ``benchmarks/estimator.py``; the choice itself is not
    cross-validated).

    * LUT: ECP5 :math:`[1, P b_a, C_{buf}, Q, A, P A]`, iCE40
      :math:`[1, P, P b_v, A, P_f b_x b_w]`. The ECP5 set was chosen among sets of up to five of
      twenty candidates on its 13 builds (11.2 % worst then, 14.9 % on the sweep built
      at 4a49d77, ``benchmarks/results/estimator.md``; the former
      :math:`[1, P, P b_a, C_{lutram}, R_{logic}, M]` 24.6 % on the rebuilt sweep): the
      accumulator width per lane, the LUT-RAM cells of the spike buffers, the memory
      pieces' registers and the address counters and their fan-out to the lanes;
    * FF: ECP5 :math:`[1, P, P b_v, P A]`, iCE40 :math:`[1, P b_v + Q, A, P_f b_x b_w]`
      (8 % and 12.5 % worst);
    * 1/Fmax: :math:`[1]` on both families, a constant: nextpnr's Fmax has no trend that
      survives leave-one-out over the sweep, it moves by ±10 % with the placement. On ECP5
      the former :math:`[1, C_{lutram}, A, P A]` (more LUT-RAM cells to route, wider
      addresses fanned out to more lanes) was 15.2 % worst at 4a49d77 and 29.1 % at c007086,
      whose UART receiver moved every placement; the constant, 12.3 % and 15.4 %.

    :math:`C_{lutram}`: :func:`lutram_cells`; :math:`C_{buf}`: those of the
    spike buffers (``buffers="distributed"``); :math:`Q`: register bits of the
    memory pieces in flip-flops (all lanes, :func:`_piece_registers`, a loaded
    weight bank's, :func:`_bank_registers`, and single-port membranes',
    :func:`_single_port_registers`); :math:`A`: :func:`address_bits`;
    :math:`b_v`, :math:`b_a`: the membrane and accumulator widths; :math:`P_f`: the
    lanes that multiply in logic (``multipliers="fabric"``, :func:`dsp_count`), with
    :math:`b_x b_w` the bits of their operands (the ECP5 builds all multiply in logic).
    """
    p = plan.lanes
    lanes = lane_pieces(plan)
    address = address_bits(plan)
    piece_regs = p * sum(width * _piece_registers(sizes, width, rom, family) for _, sizes, width, rom, _ in lanes)
    piece_regs += _bank_registers(plan, family) + _single_port_registers(plan)
    if family is Family.ECP5:
        distributed = plan.config.buffers is BufferRam.DISTRIBUTED
        buffer_cells = lutram_cells(plan, family, "buffers") if distributed else 0
        lut = [1.0, p * plan.acc_bits, buffer_cells, piece_regs, address, p * address]
        ff = [1.0, p, p * plan.mem_bits, p * address]
    else:
        fabric_products = (0 if dsp_count(plan, family) else p) * plan.value_bits * plan.weight_bits
        lut = [1.0, p, p * plan.mem_bits, address, fabric_products]
        ff = [1.0, p * plan.mem_bits + piece_regs, address, fabric_products]
    return {"lut": lut, "ff": ff, "inv_fmax": [1.0]}


@dataclass
class Estimate:
    """What ``hwgen estimate`` predicts (JSON: :meth:`to_json`)."""

    board: str
    lanes: int
    mode: str
    resources: dict = field(default_factory=dict)
    bram_by_memory: dict = field(default_factory=dict)
    fits: bool = True
    fmax_mhz: float = 0.0
    cycles: int = 0
    cycles_basis: str = ""
    latency_us: float = 0.0
    images_per_s: float = 0.0
    energy: dict = field(default_factory=dict)
    activity_basis: str = ""
    buffers: str = "block"
    weights: str = "rom"
    membranes: str = "block"
    cache: bool = True
    multipliers: str = "fabric"
    tight: list = field(default_factory=list)   # LUT/FF estimated within LOGIC_MARGIN of the device

    def to_json(self) -> dict:
        return {"format": "hwgen-estimate/1", **asdict(self)}


#: The LUT/FF tolerance the estimator is calibrated to (``benchmarks/estimator.py``): an estimate
#: above ``1 - LOGIC_MARGIN`` of the device may not place (iCE40 tiny P=4: 5000 LUT estimated,
#: 5357 logic cells of 5280 packed by nextpnr).
LOGIC_MARGIN = 0.15


def _tight(res: dict) -> list[str]:
    """The logic resources estimated within :data:`LOGIC_MARGIN` of the device."""
    return [k for k in ("lut", "ff") if res[k]["used"] > (1 - LOGIC_MARGIN) * res[k]["available"]]


def predict_logic(plan: Plan, family: Family, coeffs: dict | None = None) -> tuple[int, int, float]:
    """``(LUT, FF, Fmax MHz)`` from the fitted linear model (``coeffs``: one family's entry of
    ``estimate_model.json``, by default the shipped one)."""
    coeffs = coeffs or _model()[family.value]
    x = logic_features(plan, family)
    lut, ff, inv = (sum(a * f for a, f in zip(coeffs[key], x[key])) for key in ("lut", "ff", "inv_fmax"))
    return int(round(lut)), int(round(ff)), round(1.0 / inv, 1)


def dsp_count(plan: Plan, family: Family) -> int:
    """DSP blocks: one a lane with ``multipliers="dsp"`` (a 16 x 16 ``SB_MAC16``; a product
    of fewer than 11 bits stays in logic, a wider operand takes a block per 16-bit slice,
    :mod:`hwgen.rtl.multiply`), none with the fabric's shift-add (every address is a
    running sum)."""
    if plan.config.multipliers is not Multipliers.DSP or plan.value_bits + plan.weight_bits < DSP_MIN_PRODUCT_BITS:
        return 0
    return plan.lanes * math.ceil(plan.value_bits / 16) * math.ceil(plan.weight_bits / 16)


#: Yosys's ``synth_ice40 -dsp`` leaves products narrower than this in logic (``DSP_Y_MINWIDTH``).
DSP_MIN_PRODUCT_BITS = 11


def _resources(plan: Plan, board: Board) -> tuple[dict, float]:
    """``{resource: {"used", "available"}}`` and the Fmax (MHz) of ``plan`` on ``board``."""
    fam, cap = board.family, board.capacity
    lut, ff, fmax = predict_logic(plan, fam)
    res = {"lut": {"used": lut, "available": cap.lut}, "ff": {"used": ff, "available": cap.ff},
           "bram": {"used": sum(bram_blocks(plan, fam).values()), "available": cap.bram},
           "spram": {"used": spram_blocks(plan, fam), "available": cap.spram},
           "dsp": {"used": dsp_count(plan, fam), "available": cap.dsp}}
    return res, fmax


def estimate(network: Network, board: Board, config: AccelConfig, inputs: np.ndarray | None = None) -> Estimate:
    """Resources, cycles, latency and energy of ``network`` on ``board`` (see the module docstring)."""
    from .build import _cycles
    from .sim import golden

    check_config(board, config)
    plan = build_plan(network, config)
    brams = bram_blocks(plan, board.family)
    res, fmax = _resources(plan, board)
    est = Estimate(board.name, config.lanes, config.mode.value, res, brams,
                   fits=all(r["used"] <= r["available"] for r in res.values()), fmax_mhz=fmax,
                   buffers=config.buffers.value, weights=config.weights.value,
                   membranes=config.membranes.value, cache=config.cache, multipliers=config.multipliers.value)
    est.tight = _tight(res) if est.fits else []
    est.cycles, est.cycles_basis = _cycles(network, config, inputs)
    est.latency_us = round(est.cycles / fmax, 2)
    est.images_per_s = round(fmax * 1e6 / est.cycles, 1)
    if inputs is None:
        lo, hi = (0, 2 ** network.input.bits - 1) if not network.input.signed else \
            (-2 ** (network.input.bits - 1), 2 ** (network.input.bits - 1) - 1)
        inputs = np.random.default_rng(0).integers(lo, hi + 1, (16, *network.input.shape))
        est.activity_basis = "16 uniform random images (pass --input for real activity)"
    else:
        est.activity_basis = f"{len(inputs)} input images"
    e: Energy = energy(network, golden.run(network, inputs).spikes)
    est.energy = e.to_json()
    return est


def check_config(board: Board, config: AccelConfig) -> None:
    """Distributed (LUT) RAM buffers exist only on ECP5; a board build keeps loaded weights
    only in iCE40 SPRAM (``hwgen generate`` still writes the generic RAM for vendor flows)."""
    if config.weights is WeightStore.LOADED and board.family is not Family.ICE40:
        raise HwgenError(f"weights='loaded' keeps the weights in SPRAM, which {board.name} "
                         f"({board.family.value}) does not have; use rom")
    if config.membranes is MembraneRam.SPRAM and board.family is not Family.ICE40:
        raise HwgenError(f"membranes='spram' keeps the membranes in SPRAM, which {board.name} "
                         f"({board.family.value}) does not have; use block")
    if config.multipliers is Multipliers.DSP and board.family is not Family.ICE40:
        raise HwgenError(f"multipliers='dsp' is calibrated for iCE40 SB_MAC16 blocks only; {board.name} "
                         f"({board.family.value}) builds multiply in the fabric (Yosys leaves the MULT18X18D's "
                         f"registers unused): use fabric")
    if config.buffers is BufferRam.DISTRIBUTED and board.family is not Family.ECP5:
        raise HwgenError(f"buffers='distributed' needs LUT RAM, which {board.name} ({board.family.value}) "
                         f"does not have; use block")
