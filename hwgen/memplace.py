r"""Where Yosys's ``memory_libmap`` puts a memory: block RAM, LUT RAM or logic.

One rule for the estimator (:mod:`hwgen.estimate` counts the blocks) and the
RTL (:class:`hwgen.rtl.blockmem.BlockedMemory` puts a piece that goes to an
ECP5 block RAM behind the block's own output register). Memories are placed
by the cheapest of ``memory_libmap``'s costs (its tech library files and
defaults): a bank of depth :math:`d` and width :math:`w` in block RAM costs
64 (iCE40 EBR) or 128 (ECP5 DP16KD) per block, with
:math:`\min_{(D, W)} \lceil d/D \rceil \lceil w/W \rceil` blocks over the
aspect ratios (Yosys does not split one memory between blocks and logic: a
ROM tail in logic is a piece of its own, :func:`hwgen.rtl.blockmem.tail_in_logic`);
in ECP5 LUT RAM 4 per ``DPR16X4`` cell,
:math:`\lceil d/16 \rceil \lceil w/4 \rceil` cells (RAMs only); in logic
:math:`d w` for a RAM (flip-flops) and :math:`d w / 16` for a ROM.
"""
from __future__ import annotations

import math

from .boards import Family

#: Block RAM aspect ratios (depth, width) per family.
ASPECTS = {Family.ICE40: ((256, 16), (512, 8), (1024, 4), (2048, 2)),
           Family.ECP5: ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))}
#: yosys memory_libmap costs: a block RAM, an ECP5 LUT RAM cell, a bit in logic (RAM, ROM).
BLOCK_COST = {Family.ICE40: 64, Family.ECP5: 128}
LUTRAM_CELL_COST = 4
LOGIC_COST_RAM, LOGIC_COST_ROM = 1.0, 1.0 / 16


def blocks(depth: int, width: int, family: Family) -> int:
    """Block RAMs for one ``depth x width`` memory (a 1636 x 8 weight ROM takes four
    iCE40 blocks, its last a fifth full: built so in the calibration sweep)."""
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in ASPECTS[family])


def placement(depth: int, width: int, family: Family, rom: bool, lutram: bool = False) -> tuple[str, int]:
    """Where yosys puts one ``depth x width`` bank: ``("bram", blocks)``, ``("lutram", cells)``
    or ``("logic", 0)``, the cheapest by memory_libmap's costs (``lutram``: forced, ECP5)."""
    if depth == 0:
        return "logic", 0
    cells = math.ceil(depth / 16) * math.ceil(width / 4)
    if lutram and family is Family.ECP5 and not rom:
        return "lutram", cells
    n = blocks(depth, width, family)
    options = [(depth * width * (LOGIC_COST_ROM if rom else LOGIC_COST_RAM), "logic", 0),
               (BLOCK_COST[family] * n, "bram", n)]
    if family is Family.ECP5 and not rom:
        options.append((LUTRAM_CELL_COST * cells, "lutram", cells))
    _, kind, count = min(options, key=lambda option: option[0])
    return kind, count


def ecp5_output_register(depth: int, width: int, rom: bool) -> int:
    """ECP5 block RAMs of a memory piece that uses the blocks' output registers
    (``REGMODE = "OUTREG"``): its blocks when Yosys puts it in block RAM, else 0."""
    kind, count = placement(depth, width, Family.ECP5, rom)
    return count if kind == "bram" else 0
