"""The estimator: energy by hand, memory placement choices (fit_*), estimates and their flags."""
import json

import numpy as np
import pytest

from hwgen.boards import Family, load_board
from hwgen.energy import PAPER_AC_PJ, PAPER_MAC_PJ, energy, layer_macs, synaptic_ops
from hwgen.errors import HwgenError
from hwgen.estimate import bram_blocks, estimate
from hwgen.fit import fit_buffers
from hwgen.hwconfig import AccelConfig
from hwgen.hwplan import build_plan
from hwgen.network import InputSpec, Layer, Network, Neuron, Op
from hwgen.sim.bench.nets import demo_like, images

def _linear_net():
    w1 = np.array([[1, 2], [3, 4], [0, 1]])
    w2 = np.array([[1, -1, 2]])
    return Network(2, InputSpec((2,), 8, False), (
        Layer("a", Op.LINEAR, weight=w1, bias=np.zeros(3, dtype=np.int64), neuron=Neuron(4, 2, 1, 16)),
        Layer("b", Op.LINEAR, weight=w2, bias=np.zeros(1, dtype=np.int64), acc_bits=16)))


def test_energy_counts_by_hand():
    net = _linear_net()
    assert layer_macs(net) == [6, 3]
    spikes = {"a": np.array([[3, 0], [1, 2]])}            # two images, T = 2
    first, sops = synaptic_ops(net, spikes)
    # mean spikes per input of layer b: step 0 (3+1)/2/3, step 1 (0+2)/2/3 -> sum 1.0; 3 MACs each
    assert first == 6 and sops == pytest.approx(3.0)
    e = energy(net, spikes)
    assert e.paper_snn_pj == pytest.approx(PAPER_MAC_PJ * 6 + PAPER_AC_PJ * 3.0)
    assert e.paper_ann_pj == pytest.approx(PAPER_MAC_PJ * 9)
    assert e.neuron_updates == 2 * 3 and 0 < e.horowitz_ratio


def _at_the_edge(net, config, name):
    """``(roomy, tight)``: board ``name`` with exactly the block RAM ``config`` needs, and one less."""
    import dataclasses

    board = load_board(name)
    needed = sum(bram_blocks(build_plan(net, config), board.family).values())
    return tuple(dataclasses.replace(board, capacity=dataclasses.replace(board.capacity, bram=n))
                 for n in (needed, needed - 1))


def test_fit_buffers_moves_buffers_to_lut_ram_only_when_block_ram_overflows():
    net, config = demo_like(0, size=8, channels=(2, 4), hidden=8), AccelConfig(4)
    roomy, tight = _at_the_edge(net, config, "ulx3s-25f")
    assert fit_buffers(net, roomy, config).buffers.value == "block"
    assert fit_buffers(net, tight, config).buffers.value == "distributed"
    assert fit_buffers(net, load_board("icebreaker"), config) == config       # iCE40: no LUT RAM


def test_fit_weights_moves_weights_to_spram_only_when_block_ram_overflows():
    import dataclasses

    from hwgen.estimate import check_config, spram_blocks
    from hwgen.fit import fit_weights

    net, config = demo_like(0, size=8, channels=(2, 4), hidden=8), AccelConfig(4)
    roomy, tight = _at_the_edge(net, config, "icebreaker")
    assert fit_weights(net, roomy, config) == config
    loaded = fit_weights(net, tight, config)
    assert loaded.weights.value == "loaded"
    plan = build_plan(net, loaded)
    brams = bram_blocks(plan, Family.ICE40)
    columns = -(-4 * plan.weight_bits // 16)                     # one SPRAM row: the bank is < 16 K words
    assert brams.get("weight_rom", 0) == brams["weight_bank"] == 0 and spram_blocks(plan, Family.ICE40) == columns
    assert estimate(net, tight, loaded).resources["spram"]["used"] == columns
    no_spram = dataclasses.replace(tight, capacity=dataclasses.replace(tight.capacity, spram=0))
    assert fit_weights(net, no_spram, config) == config
    ecp5 = load_board("ulx3s-25f")
    assert fit_weights(net, ecp5, config) == config
    with pytest.raises(HwgenError, match="ulx3s-25f .ecp5. does not have; use rom"):
        check_config(ecp5, loaded)


def test_fit_membranes_puts_the_demo_cnn_on_the_icebreaker():
    """The demo-shape CNN at P = 2: weights (2) and membranes (2: a 16-bit column per lane, the
    other 4 bits in EBR) fill the 4 SPRAMs, the cache goes, and block RAM then fits; at P = 4 the
    membranes would need 4 more SPRAMs, so nothing moves; ECP5 boards have no SPRAM."""
    import dataclasses

    from hwgen.estimate import check_config, spram_blocks
    from hwgen.fit import fit_membranes, fit_weights

    from hwgen.sim.bench.nets import with_widths

    net, ice40 = with_widths(demo_like(2), 20), load_board("icebreaker")      # the trained demo's widths
    loaded = fit_weights(net, ice40, AccelConfig(2))
    moved = fit_membranes(net, ice40, loaded)
    assert (moved.membranes.value, moved.cache, moved.weights.value) == ("spram", False, "loaded")
    plan = build_plan(net, moved)
    assert plan.mem_bits == 20 and spram_blocks(plan, Family.ICE40) == 4
    assert bram_blocks(plan, Family.ICE40)["membrane_ram"] == 2 * 5          # 4741 x 4 bits: 5 EBR a lane
    assert estimate(net, ice40, moved).fits and not estimate(net, ice40, loaded).fits
    four = fit_weights(net, ice40, AccelConfig(4))
    assert fit_membranes(net, ice40, four) == four
    from hwgen.fit import fit_board                      # what hwgen demo builds: the most lanes that fit

    assert fit_board(net, ice40, AccelConfig(16, "event")) == dataclasses.replace(moved, multipliers="dsp")
    narrow = with_widths(demo_like(2), 14)             # 14 bits: no SPRAM column, nothing to gain
    assert fit_membranes(narrow, ice40, fit_weights(narrow, ice40, AccelConfig(2))).membranes.value == "block"
    assert fit_board(net, load_board("ulx3s-85f"), AccelConfig(4, "event")) == AccelConfig(4, "event")
    assert fit_membranes(net, ice40, AccelConfig(2, "event", weights="loaded")).membranes.value == "block"
    ecp5 = load_board("ulx3s-25f")
    assert fit_membranes(net, ecp5, AccelConfig(2)) == AccelConfig(2)
    with pytest.raises(HwgenError, match="ulx3s-25f .ecp5. does not have; use block"):
        check_config(ecp5, dataclasses.replace(AccelConfig(2), membranes="spram", cache=False))


def test_dsp_multipliers_take_one_sb_mac16_a_lane_on_ice40_only(monkeypatch):
    from hwgen import estimate as estimate_module
    from hwgen.estimate import check_config, dsp_count
    from hwgen.fit import fit_multipliers

    net = demo_like(0, size=8, channels=(2, 4), hidden=8)     # 9-bit values x 8-bit weights
    ice40, ecp5 = load_board("icebreaker"), load_board("ulx3s-25f")
    assert dsp_count(build_plan(net, AccelConfig(4, multipliers="dsp")), Family.ICE40) == 4
    assert dsp_count(build_plan(net, AccelConfig(4)), Family.ICE40) == 0
    assert fit_multipliers(net, ice40, AccelConfig(8)) == AccelConfig(8, multipliers="dsp")
    assert fit_multipliers(net, ice40, AccelConfig(16)) == AccelConfig(16)          # the UP5K has 8
    assert fit_multipliers(net, ecp5, AccelConfig(4)) == AccelConfig(4)
    with pytest.raises(HwgenError, match="ulx3s-25f .ecp5. builds multiply in the fabric"):
        check_config(ecp5, AccelConfig(2, multipliers="dsp"))
    fabric, dsp = (estimate(net, ice40, AccelConfig(2, multipliers=m), images(0, 1, 8)) for m in ("fabric", "dsp"))
    assert dsp.resources["dsp"]["used"] == 2 and fabric.resources["dsp"]["used"] == 0
    assert dsp.resources["lut"]["used"] < fabric.resources["lut"]["used"] - 200      # the trees' logic cells
    assert dsp.cycles == fabric.cycles and dsp.to_json()["multipliers"] == "dsp"
    monkeypatch.setattr(estimate_module, "DSP_MIN_PRODUCT_BITS", 18)    # 17-bit products stay in logic
    assert dsp_count(build_plan(net, AccelConfig(4, multipliers="dsp")), Family.ICE40) == 0
    assert fit_multipliers(net, ice40, AccelConfig(4)) == AccelConfig(4)


def test_estimate_reports_everything_for_a_board():
    net = demo_like(0, size=8, channels=(2, 4), hidden=8)
    est = estimate(net, load_board("ulx3s-25f"), AccelConfig(4), images(0, 3, 8))
    doc = est.to_json()
    assert doc["resources"]["bram"]["used"] == sum(est.bram_by_memory.values())
    assert doc["resources"]["dsp"]["used"] == 0      # shift-add lanes (rtl_templates/multiply.py)
    assert est.cycles > 0 and est.latency_us == pytest.approx(est.cycles / est.fmax_mhz, rel=1e-3)
    assert doc["energy"]["paper_ann_pj"] > 0 and est.activity_basis == "3 input images"
    assert doc["tight"] == []       # a few thousand LUTs of 24k
    json.dumps(doc)


def test_estimate_flags_logic_close_to_the_device():
    """The tiny net at P=4 did not place on the UP5K (5357 logic cells of 5280, benchmarks/results/estimator.md)."""
    net = demo_like(0, size=8, channels=(2, 4), hidden=8)
    board = load_board("icebreaker")
    assert estimate(net, board, AccelConfig(4), images(0, 1, 8)).tight == ["lut"]
    assert estimate(net, board, AccelConfig(1), images(0, 1, 8)).tight == []
    from hwgen.fit import fit_board                      # so the demo would not build P = 4 there
    assert fit_board(net, board, AccelConfig(4)).lanes == 2
    import dataclasses                                        # only tight fits left: the first of them
    lut_p1 = estimate(net, board, AccelConfig(1), images(0, 1, 8)).resources["lut"]["used"]
    small = dataclasses.replace(board, capacity=dataclasses.replace(board.capacity, lut=int(lut_p1 / 0.9)))
    assert fit_board(net, small, AccelConfig(8)).lanes == 1
