"""The cycle model and the accelerator plan."""
from __future__ import annotations

import numpy as np
import pytest

from hwgen.errors import HwgenError
from hwgen.hwconfig import AccelConfig, Mode
from hwgen.hwplan import Kind, build_plan
from hwgen.sim.bench.nets import demo_like, images
from hwgen.sim.cycles import inference_cycles, synaptic_ops
from netgen import random_inputs, random_network


def test_config_validation():
    assert AccelConfig(4, "event").mode is Mode.EVENT
    for bad in (dict(lanes=0), dict(lanes=True), dict(lanes=1.5), dict(mode="sparse")):
        with pytest.raises(HwgenError):
            AccelConfig(**bad)


def test_dense_cycles_do_not_depend_on_the_image():
    network = random_network(12)
    x = random_inputs(network, 1, 3)
    cycles = inference_cycles(network, AccelConfig(2), x)
    assert len(set(cycles.tolist())) == 1
    assert inference_cycles(network, AccelConfig(2)).tolist() == cycles[:1].tolist()


def test_event_cycles_follow_activity():
    network = demo_like(0, size=8, channels=(3, 4), hidden=5, classes=3)
    blank, busy = np.zeros((1, 1, 8, 8), dtype=np.int64), images(0, 1, 8)
    quiet, loud = inference_cycles(network, AccelConfig(2, "event"), np.concatenate([blank, busy]))
    assert quiet < loud
    with pytest.raises(ValueError):
        inference_cycles(network, AccelConfig(2, "event"))


def test_demo_dense_within_bound():
    """Dense cycles <= 1.15 x synaptic ops / P on the demo shape at P in {1, 4, 16}."""
    network = demo_like(0)
    ops = synaptic_ops(network)
    # Valid taps of a 3x3 pad-1 conv on n x n: (3n - 2)^2; conv1, conv2, fc1, out; 4 steps.
    assert ops == 4 * (8 * 82**2 + 16 * 8 * 40**2 + 784 * 64 + 64 * 10)
    for lanes in (1, 4, 16):
        cycles = int(inference_cycles(network, AccelConfig(lanes))[0])
        assert cycles <= 1.15 * ops / lanes


def test_plan_fuses_non_overlapping_pools_only():
    plan = build_plan(demo_like(0, size=8, channels=(2, 2), hidden=3, classes=2), AccelConfig(2))
    assert [q.kind for q in plan.first] == [Kind.CONV] * 4
    assert [q.fused_pool for q in plan.first] == [True, True, False, False]
    assert [q.kind for q in plan.rest] == [Kind.CACHED] + [Kind.CONV] * 3
    plan = build_plan(random_network(9), AccelConfig(2, "event"))
    assert Kind.POOL in [q.kind for q in plan.first] and Kind.SCAN in [q.kind for q in plan.first]
