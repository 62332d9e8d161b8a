"""Thresholds, normalisation, v_init, bursts and widths of converted networks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import convnets
from convnets import images, model_logits
from hwgen import ConversionError
from hwgen import fixedpoint as fx
from hwgen.convert import convert_detailed
from hwgen.convert.fir import ActKind
from hwgen.reference import ann_logits
from hwgen.sim import golden


# --- λ for ReLU layers: max or p-th percentile of the ANN's activations ---------

@pytest.fixture(scope="module")
def mlp_case():
    """A ReLU MLP and 768 calibration images (16 neurons: 12k activations per layer)."""
    return convnets.relu_mlp(seed=20), images((12,), 768, seed=20)


def positive(activation: torch.Tensor) -> np.ndarray:
    values = activation.flatten().numpy()
    return values[values > 0]


def test_norm_max_is_the_activation_maximum(mlp_case):
    model, x = mlp_case
    conversion = convert_detailed(model, x, timesteps=4, norm="max")
    seen = convnets.activations(model, x)
    spiking = [layer.name for layer in conversion.plan if layer.act is not None]
    assert len(spiking) == len(seen) == 2
    for name, activation in zip(spiking, seen):
        assert conversion.lambdas[name] == pytest.approx(float(activation.max()), rel=1e-5)


@pytest.mark.parametrize("p", [None, 99.0, 50.0])
def test_norm_percentile_of_positive_activations(mlp_case, p):
    """Default p = 99.99 (over the layer's positive activations, as the SNN Toolbox)."""
    model, x = mlp_case
    options = {} if p is None else {"percentile": p}
    conversion = convert_detailed(model, x, timesteps=4, **options)
    spiking = [layer.name for layer in conversion.plan if layer.act is not None]
    for name, activation in zip(spiking, convnets.activations(model, x)):
        want = np.percentile(positive(activation), 99.99 if p is None else p)
        assert conversion.lambdas[name] == pytest.approx(want, rel=1e-5)
        assert conversion.lambdas[name] < float(activation.max())  # differs from the max


def test_learned_thresholds_ignore_norm():
    """QCFS λ and RNL θ are used as they are, whatever ``norm`` says."""
    torch.manual_seed(21)
    model = nn.Sequential(nn.Linear(6, 8), convnets.rnl(3.0, -0.4), nn.Linear(8, 8),
                          convnets.QCFS(4, 0.7), nn.Linear(8, 2)).eval()
    x = images((6,), 64)
    for options in ({"norm": "max"}, {"norm": "percentile", "percentile": 10.0}):
        lambdas = convert_detailed(model, x, timesteps=4, **options).lambdas
        assert lambdas == pytest.approx({"0": 3.0 / (1 + np.exp(0.4)), "2": 0.7}, rel=1e-6)


def test_normalised_network_equals_model_on_calibration_data(mlp_case):
    """W' = W λ_{l-1}/λ_l, b' = b/λ_l: with norm=max nothing clips on the calibration
    data, so the normalised float network gives the model's logits."""
    model, x = mlp_case
    conversion = convert_detailed(model, x, timesteps=4, norm="max")
    got = ann_logits(conversion.float_snn, x, dtype=torch.float64)
    np.testing.assert_allclose(got, model_logits(model, x), atol=1e-5)
    # and each spiking layer's normalised activations peak at exactly one spike unit
    record = {}
    ann_logits(conversion.float_snn, x, record=record, dtype=torch.float64)
    assert [float(v.max()) for v in record.values()] == pytest.approx([1.0, 1.0], rel=1e-5)


# --- v_init and bursts -----------------------------------------------------------------

@pytest.mark.parametrize("v_init, frac", [("half", 0.5), ("zero", 0.0), (None, 0.5)])
def test_v_init(v_init, frac):
    options = {} if v_init is None else {"v_init": v_init}
    conversion = convert_detailed(convnets.qcfs_cnn(seed=22), images((1, 8, 8)), timesteps=4, **options)
    neurons = [layer.neuron for layer in conversion.network.layers if layer.neuron]
    assert len(neurons) == 3
    for neuron in neurons:
        assert neuron.v_init == (neuron.threshold // 2 if frac else 0)
    assert {layer.v_init for layer in conversion.float_snn.layers if layer.act} == {frac}


def test_burst_list_lands_in_its_layers():
    """burst=[1, 2, 4]: Γ per spiking layer in order (pools skipped); the spike unit
    is λ/Γ, so the normalised weights scale by u_{l-1}/u_l."""
    model = convnets.qcfs_cnn(seed=23)
    x = images((1, 8, 8))
    conversion = convert_detailed(model, x, timesteps=4, burst=[1, 2, 4])
    layers = conversion.network.layers
    assert [layer.neuron.burst if layer.neuron else None for layer in layers] == [1, None, 2, 4, None]
    plan = {layer.name: layer for layer in conversion.plan}
    floats = {layer.name: layer for layer in conversion.float_snn.layers}
    lam = conversion.lambdas
    units = {name: lam[name] / burst for name, burst in zip(["0", "4", "7"], [1, 2, 4])}
    np.testing.assert_allclose(floats["4"].weight.numpy(), plan["4"].weight * units["0"] / units["4"], rtol=1e-12)
    np.testing.assert_allclose(floats["7"].weight.numpy(), plan["7"].weight * units["4"] / units["7"], rtol=1e-12)
    np.testing.assert_allclose(floats["9"].weight.numpy(), plan["9"].weight * units["7"], rtol=1e-12)
    assert [floats[n].act.lam for n in ("0", "4", "7")] == [1.0, 2.0, 4.0]
    meta = conversion.network.meta["layers"]
    assert [meta[n]["unit"] for n in ("0", "4", "7")] == pytest.approx([units[n] for n in ("0", "4", "7")])


# --- widths: bound-derived and never saturating -----------------------------------------

def current_bounds(layer, lo: int, hi: int):
    """Per-output-channel bounds of W·s + b for inputs in [lo, hi] (test's own code)."""
    w = layer.weight.reshape(len(layer.weight), -1).astype(np.int64)
    bias = 0 if layer.bias is None else layer.bias.astype(np.int64)
    return (np.where(w > 0, w * lo, w * hi).sum(1) + bias, np.where(w > 0, w * hi, w * lo).sum(1) + bias)


def expected_widths(network):
    """v_bits / acc_bits each layer should get from worst-case bounds."""
    lo, hi, widths = 0, 2 ** network.input.bits - 1, []
    for layer in network.layers:
        if layer.op.value == "sumpool2d":
            lo, hi = lo * layer.kernel[0] * layer.kernel[1], hi * layer.kernel[0] * layer.kernel[1]
            continue
        i_lo, i_hi = current_bounds(layer, lo, hi)
        if layer.neuron is None:
            widths.append(fx.width_for(min(0, network.timesteps * int(i_lo.min())),
                                       max(0, network.timesteps * int(i_hi.max()))))
        else:
            n = layer.neuron
            widths.append(fx.width_for(*fx.membrane_range(i_lo, i_hi, n.threshold, n.v_init, n.burst,
                                                          network.timesteps)))
            lo, hi = 0, n.burst
    return widths


def adversarial_inputs(network, count: int = 16, seed: int = 0) -> np.ndarray:
    """All-max, all-zero, first-layer weight-sign patterns and random pixels."""
    shape, top = network.input.shape, 2 ** network.input.bits - 1
    first = network.layers[0]
    x = [np.full(shape, top), np.zeros(shape)]
    if first.op.value == "linear":
        for row in first.weight[:4]:
            x += [np.where(row > 0, top, 0).reshape(shape), np.where(row < 0, top, 0).reshape(shape)]
    x = np.stack(x + list(images(shape, count, seed)))
    return x.astype(np.uint8 if top < 256 else np.int64)


CASES = {
    "qcfs-cnn": (lambda: convnets.qcfs_cnn(seed=24), (1, 8, 8), {"burst": 4}),
    "relu-cnn": (lambda: convnets.relu_cnn(seed=25), (2, 8, 8), {"burst": [1, 3]}),
    "relu-mlp": (lambda: convnets.relu_mlp(seed=26), (12,), {"percentile": 90.0}),
    "mlp-6bit": (lambda: convnets.relu_mlp(seed=27), (12,), {"weight_bits": 6, "input_bits": 4}),
}


@pytest.mark.parametrize("timesteps", [1, 4, 16])
@pytest.mark.parametrize("case", sorted(CASES))
def test_widths_are_bound_derived_and_never_saturate(case, timesteps):
    factory, shape, options = CASES[case]
    x = images(shape, 64)
    if options.get("input_bits") == 4:
        x = x >> 4
    network = convert_detailed(factory(), x, timesteps=timesteps, **options).network
    widths = [layer.neuron.v_bits if layer.neuron else layer.acc_bits for layer in network.layers
              if layer.has_weights]
    assert widths == expected_widths(network)
    probe = adversarial_inputs(network)
    if network.input.bits == 4:
        probe = np.minimum(probe, 15)
    result = golden.run(network, probe)
    assert set(result.saturations) == {layer.name for layer in network.layers if layer.has_weights}
    assert {name: int(count.sum()) for name, count in result.saturations.items()} == \
           {name: 0 for name in result.saturations}
    assert sum(int(s.sum()) for s in result.spike_totals().values()) > 0


def test_forced_widths_are_used():
    """v_bits / acc_bits options override the bounds (and then may saturate)."""
    x = images((12,), 64)
    network = convert_detailed(convnets.relu_mlp(seed=28), x, timesteps=8, v_bits=30, acc_bits=10).network
    assert [layer.neuron.v_bits for layer in network.layers[:-1]] == [30, 30]
    assert network.layers[-1].acc_bits == 10
    assert golden.run(network, adversarial_inputs(network)).saturations[network.layers[-1].name].sum() > 0
    with pytest.raises(ConversionError, match="option v_bits: 8 bits cannot hold layer '0'"):
        convert_detailed(convnets.relu_mlp(seed=28), x, timesteps=8, v_bits=8)


def test_activations_in_meta():
    conversion = convert_detailed(convnets.relu_cnn(seed=29), images((2, 8, 8)), timesteps=2)
    meta = conversion.network.meta["layers"]
    assert meta["0"]["activation"] == ActKind.RELU.value
    assert meta["0"]["lambda"] == conversion.lambdas["0"]
