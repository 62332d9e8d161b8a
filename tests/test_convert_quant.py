"""Γ = L at T = 1: the SNN equals the integer-quantised QCFS ANN exactly (SPEC §3).

:func:`hwgen.reference.quantised_ann` computes that ANN straight from the
integer network, with no neuron state and no code shared with the golden
model; it is first checked against golden itself on random networks.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

import convnets
import netgen
from convnets import images, model_logits
from hwgen import InputSpec, Layer, Network, Neuron, Op
from hwgen.convert import convert_detailed
from hwgen.nn import QCFS
from hwgen.reference import quantised_ann
from hwgen.sim import golden


def test_quantised_ann_by_hand():
    """Input [1, 3, 3]; conv 2x2 stride 1 pad 0 (θ=4, Γ=3, v_init=2); sumpool 2x2; out."""
    conv = Layer("c", Op.CONV2D, weight=np.array([[[[1, 0], [0, 1]]], [[[-1, 2], [0, 0]]]]),
                 bias=np.array([0, 1]), neuron=Neuron(threshold=4, v_init=2, burst=3, v_bits=12))
    pool = Layer("p", Op.SUMPOOL2D, kernel=(2, 2), stride=(2, 2))
    out = Layer("o", Op.LINEAR, weight=np.array([[1, 0], [0, 1], [1, -1]]), bias=np.array([0, 0, 5]),
                acc_bits=16)
    network = Network(1, InputSpec((1, 3, 3)), (conv, pool, out))
    x = np.array([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]], dtype=np.uint8)
    # channel 0: x[i,j] + x[i+1,j+1] = 6, 8, 12, 14 -> floor((z + 2)/4) = 2, 2, 3, 4 -> clamp 3: 2, 2, 3, 3
    # channel 1: -x[i,j] + 2 x[i,j+1] + 1 = 4, 5, 7, 8 -> floor((z + 2)/4) = 1, 1, 2, 2
    # sumpool: [10, 6]; logits: [10, 6, 10 - 6 + 5]
    logits, prediction = quantised_ann(network, x)
    assert logits.tolist() == [[10, 6, 9]] and prediction.tolist() == [0]


def wide(network: Network) -> Network:
    """``network`` at T = 1 with 48-bit membranes and accumulator (no saturation)."""
    layers = tuple(dataclasses.replace(layer, neuron=dataclasses.replace(layer.neuron, v_bits=48))
                   if layer.neuron else dataclasses.replace(layer, acc_bits=48) if layer.has_weights else layer
                   for layer in network.layers)
    return network.replace(timesteps=1, layers=layers)


@pytest.mark.parametrize("seed", range(16))
def test_quantised_ann_equals_golden_at_one_timestep(seed):
    """On random networks (netgen: convs, pools, bursts, odd v_init) T = 1 golden == quantised ANN."""
    network = wide(netgen.random_network(seed))
    x = netgen.random_inputs(network, seed, count=24)
    result = golden.run(network, x)
    assert sum(int(s.sum()) for s in result.saturations.values()) == 0
    logits, prediction = quantised_ann(network, x)
    np.testing.assert_array_equal(logits, result.logits)
    np.testing.assert_array_equal(prediction, result.prediction)


def mixed_levels_net(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return convnets.eval_model(nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), QCFS(2), nn.AvgPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), QCFS(8), nn.Flatten(),
        nn.Linear(8 * 4 * 4, 16), QCFS(4), nn.Linear(16, 5)), seed)


@pytest.mark.parametrize("factory, burst", [
    (lambda seed: convnets.qcfs_cnn(seed, levels=4), 4),
    (mixed_levels_net, [2, 8, 4]),
], ids=["L=4", "L=2,8,4"])
@pytest.mark.parametrize("seed", [0, 1])
def test_one_timestep_with_burst_levels_is_the_quantised_ann(factory, burst, seed):
    x = images((1, 8, 8), 256, seed)
    model = convnets.balance_classes(convnets.lively_qcfs(factory(seed), x), x)
    float_prediction = model_logits(model, x).argmax(1)
    assert len(np.unique(float_prediction)) >= 4  # the float ANN's predictions vary
    for weight_bits, agreement in ((8, 0.7), (16, 0.97)):
        network = convert_detailed(model, x, timesteps=1, burst=burst, weight_bits=weight_bits).network
        assert network.timesteps == 1
        result = golden.run(network, x)
        logits, prediction = quantised_ann(network, x)
        np.testing.assert_array_equal(result.logits, logits)
        np.testing.assert_array_equal(result.prediction, prediction)
        # every layer spikes, so this is not a comparison of silent networks
        assert all(int(total.max()) > 0 for total in result.spike_totals().values())
        # the quantised ANN is the float QCFS ANN up to weight rounding (near-tied logits
        # of a random net flip under 8-bit weights; 16-bit weights agree almost always)
        assert (prediction == float_prediction).mean() >= agreement


def test_burst_below_levels_is_not_exact():
    """The identity needs Γ = L: with Γ = 1 one timestep cannot carry L levels."""
    x = images((1, 8, 8), 128, 3)
    model = convnets.lively_qcfs(convnets.qcfs_cnn(3, levels=4), x)
    exact = convert_detailed(model, x, timesteps=1, burst=4).network
    capped = convert_detailed(model, x, timesteps=1, burst=1).network
    want, _ = quantised_ann(exact, x)
    assert (golden.run(capped, x).logits != want).any()
