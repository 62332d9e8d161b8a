"""Choosing a board's accelerator configuration from the estimate (``auto`` options).

``hwgen build``, ``hwgen estimate`` and ``hwgen board run`` resolve ``--weights``,
``--membranes``, ``--buffers`` and ``--multipliers auto`` here; ``hwgen demo``
also picks its lane count (:func:`fit_board`). Each function returns the
configuration unchanged when its move does not apply or does not help.
"""
from __future__ import annotations

import dataclasses

from .boards import Board, Family
from .errors import HwgenError
from .estimate import _resources, _tight, bram_blocks, dsp_count, spram_blocks
from .hwconfig import AccelConfig, BufferRam, MembraneRam, Mode, Multipliers, WeightStore
from .hwplan import build_plan
from .network import Network
from .rtl.spram import SPRAM_BITS


def fit_buffers(network: Network, board: Board, config: AccelConfig) -> AccelConfig:
    """``config`` with the spike buffers moved to LUT RAM when block RAM would overflow (ECP5 only)."""
    if board.family is not Family.ECP5 or config.buffers is BufferRam.DISTRIBUTED:
        return config
    if sum(bram_blocks(build_plan(network, config), board.family).values()) <= board.capacity.bram:
        return config
    return dataclasses.replace(config, buffers=BufferRam.DISTRIBUTED)


def fit_weights(network: Network, board: Board, config: AccelConfig) -> AccelConfig:
    """``config`` with the weights moved from ROM to the loaded SPRAM bank when the ROMs
    would overflow the block RAM and the bank fits the SPRAM (iCE40 only; else unchanged)."""
    if board.family is not Family.ICE40 or config.weights is WeightStore.LOADED:
        return config
    if sum(bram_blocks(build_plan(network, config), board.family).values()) <= board.capacity.bram:
        return config
    loaded = dataclasses.replace(config, weights=WeightStore.LOADED)
    plan = build_plan(network, loaded)
    if spram_blocks(plan, board.family) > board.capacity.spram:
        return config
    return loaded


def fit_membranes(network: Network, board: Board, config: AccelConfig) -> AccelConfig:
    """``config`` with the membranes moved to single-port SPRAM and the first-layer cache
    dropped when block RAM would overflow and the SPRAM has room (iCE40, dense mode; else
    unchanged). Call it after :func:`fit_weights`: weights go to SPRAM first."""
    if board.family is not Family.ICE40 or config.membranes is MembraneRam.SPRAM or config.mode is not Mode.DENSE:
        return config
    plan = build_plan(network, config)
    before = sum(bram_blocks(plan, board.family).values())
    if before <= board.capacity.bram or plan.mem_bits < SPRAM_BITS:     # narrower: all of it would stay in EBR
        return config
    moved = dataclasses.replace(config, membranes=MembraneRam.SPRAM, cache=False)
    try:
        plan = build_plan(network, moved)
    except HwgenError:                      # a group of one token: the membranes stay where they are
        return config
    fits = spram_blocks(plan, board.family) <= board.capacity.spram
    return moved if fits and sum(bram_blocks(plan, board.family).values()) < before else config


def fit_multipliers(network: Network, board: Board, config: AccelConfig) -> AccelConfig:
    """``config`` with the lanes' products in DSP blocks when every lane gets its own
    (iCE40 ``SB_MAC16``: 8 on the UP5K) and the product is wide enough for Yosys to use
    one (:func:`hwgen.estimate.dsp_count`); else unchanged. A DSP lane saves the
    shift-add tree's logic cells (about 150 for 9 x 8 bits) and flip-flops."""
    if board.family is not Family.ICE40 or config.multipliers is Multipliers.DSP:
        return config
    dsp = dataclasses.replace(config, multipliers=Multipliers.DSP)
    blocks = dsp_count(build_plan(network, dsp), board.family)
    return dsp if 0 < blocks <= board.capacity.dsp else config


def fit_board(network: Network, board: Board, config: AccelConfig) -> AccelConfig:
    r"""The design ``hwgen demo`` builds: the most lanes :math:`P \le` ``config.lanes`` (halving),
    in ``config.mode`` and then in dense mode, whose estimate fits ``board`` with its LUT and FF
    at most :math:`1 -` :data:`hwgen.estimate.LOGIC_MARGIN` of the device's, with the memories
    placed by :func:`fit_weights`, :func:`fit_membranes` and :func:`fit_buffers` and the
    products by :func:`fit_multipliers`; else the
    first that fits at all (its estimate flags it ``tight``); if none fits, ``config`` with
    its memories placed so."""
    def placed(lanes: int, mode: Mode) -> AccelConfig:
        c = dataclasses.replace(config, lanes=lanes, mode=mode)
        c = fit_buffers(network, board, fit_membranes(network, board, fit_weights(network, board, c)))
        return fit_multipliers(network, board, c)

    tight_fit = None
    for mode in dict.fromkeys((config.mode, Mode.DENSE)):
        lanes = config.lanes
        while lanes >= 1:
            candidate = placed(lanes, mode)
            res, _ = _resources(build_plan(network, candidate), board)
            if all(r["used"] <= r["available"] for r in res.values()):
                if not _tight(res):
                    return candidate
                tight_fit = tight_fit or candidate
            lanes //= 2
    return tight_fit or placed(config.lanes, config.mode)
