"""SNN bias calibration (hwgen.convert.biascal): off by default, and it fits the rates."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import convnets
from convnets import images, same_network
from hwgen import ConversionError, load
from hwgen import fixedpoint as fx
from hwgen.convert import convert_detailed
from hwgen.convert.biascal import layer_offsets, rates
from hwgen.convert.config import BiasCalibration
from hwgen.reference import FloatLayer, activation, ann_logits, snn_currents
from hwgen.convert.fir import Act, ActKind
from hwgen.sim import golden

SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def case():
    """A tiny QCFS CNN whose every level is used, and its calibration images."""
    x = images(SHAPE, 96, seed=60)
    return convnets.lively_qcfs(convnets.qcfs_cnn(seed=60, levels=4), x), x


def rate_errors(network, x) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per spiking layer and channel c, with e = a - r the ANN activation minus the
    T-step SNN rate (spike units) of the float SNN ``network`` on ``x``:
    ``(E_c[e], E_c[e²])`` (the test's own bookkeeping)."""
    record, errors = {}, {}
    ann_logits(network, x, record=record, dtype=torch.float64)
    for index, layer in enumerate(network.layers):
        if not layer.spiking:
            continue
        current = snn_currents(network, x, index, dtype=torch.float64)
        v, total = torch.full_like(current[0], layer.v_init), torch.zeros_like(current[0])
        for step in current:
            v = v + step
            k = torch.clamp(torch.floor(v), 0, layer.burst)
            v, total = v - k, total + k
        error = activation(layer.act, record[layer.name]) - total / len(current)
        error = error.transpose(0, 1).reshape(error.shape[1], -1)
        errors[layer.name] = (error.mean(1).numpy(), (error ** 2).mean(1).numpy())
    return errors


def summed(errors, which: int) -> float:
    """Σ over layers of the channel average of |E_c[e]| (0) or E_c[e²] (1)."""
    return sum(float(np.abs(pair[which]).mean()) for pair in errors.values())


def test_off_by_default_and_then_independent_of_the_images(case):
    """Without the option nothing changes: no offsets, no meta entry, and a QCFS
    conversion does not look at the calibration pixels at all."""
    model, x = case
    default = convert_detailed(model, x, timesteps=4)
    off = convert_detailed(model, images(SHAPE, 8, seed=61), timesteps=4, bias_calibration="none")
    same_network(default.network, off.network, names=True)
    assert default.bias_offsets == {} and "bias_calibration" not in default.network.meta["converter"]
    assert all("bias_offset" not in layer for layer in default.network.meta["layers"].values())
    on = convert_detailed(model, x, timesteps=4, bias_calibration="mean")
    assert on.network.meta["converter"]["bias_calibration"] == "mean"
    changed = [a.name for a, b in zip(on.network.layers, default.network.layers)
               if a.bias is not None and not np.array_equal(a.bias, b.bias)]
    assert changed, "calibration moved no bias"


@pytest.mark.parametrize("timesteps", [1, 2, 4])
@pytest.mark.parametrize("method", ["mean", "mse"])
def test_calibration_reduces_the_rate_error(case, method, timesteps):
    """Γ = 1: "mean" shrinks the per-channel mean errors |E_c[a - r]|, "mse" the
    per-channel squared errors E_c[(a - r)²] (what each one fits), summed over
    the layers, on the calibration images and on held-out ones."""
    model, x = case
    held_out = images(SHAPE, 96, seed=62)
    which = 0 if method == "mean" else 1
    plain = convert_detailed(model, x, timesteps=timesteps).float_snn
    conversion = convert_detailed(model, x, timesteps=timesteps, bias_calibration=method)
    for data in (x, held_out):
        before, after = summed(rate_errors(plain, data), which), summed(rate_errors(conversion.float_snn, data), which)
        assert after < 0.9 * before, (data is x, before, after)
    assert set(conversion.bias_offsets) == {layer.name for layer in plain.layers if layer.spiking}
    meta = conversion.network.meta["layers"]
    for name, offset in conversion.bias_offsets.items():
        assert meta[name]["bias_offset"] == pytest.approx(offset, abs=1e-6)


def test_first_layer_with_t_equal_l_is_left_alone(case):
    """The first layer sees the analog input: QCFS with T = L = 4 and v_init = 1/2
    is exact there, so both methods leave its biases alone."""
    model, x = case
    for method in ("mean", "mse"):
        conversion = convert_detailed(model, x, timesteps=4, bias_calibration=method)
        first = conversion.float_snn.layers[0].name
        assert np.abs(rate_errors(conversion.float_snn, x)[first][1]).max() < 1e-12
        np.testing.assert_array_equal(conversion.bias_offsets[first], 0)


def integer_squared_error(conversion, ann, x) -> float:
    """E[(a - k/T)²] of the last spiking layer: the golden model's spike counts k per
    neuron against the float ANN ``ann``'s activations a (spike units)."""
    network, counts = conversion.network, {}
    last = max(index for index, layer in enumerate(network.layers) if layer.neuron is not None)

    def trace(t, index, s):
        if index == last:
            counts[t] = s.astype(np.float64)

    golden.run(network, x, batch_size=len(x), trace=trace)
    record = {}
    ann_logits(ann, x, record=record, dtype=torch.float64)
    target = activation(ann.layers[last].act, record[ann.layers[last].name]).numpy()
    return float(np.mean((target - sum(counts.values()) / network.timesteps) ** 2))


@pytest.mark.parametrize("timesteps", [1, 2])
def test_calibrated_integer_snn_fires_closer_to_the_ann(case, timesteps):
    """The golden model's spike counts of the deepest hidden layer of the calibrated
    integer network are closer to the ANN's activations, neuron by neuron, on
    held-out images (at T = 4 the tiny net's weight quantisation error dominates)."""
    model, x = case
    held_out = images(SHAPE, 96, seed=62)
    plain = convert_detailed(model, x, timesteps=timesteps)
    calibrated = convert_detailed(model, x, timesteps=timesteps, bias_calibration="mse")
    before = integer_squared_error(plain, plain.float_snn, held_out)
    after = integer_squared_error(calibrated, plain.float_snn, held_out)
    assert after < 0.85 * before, (before, after)


def test_quantised_from_the_calibrated_float_snn_and_never_saturating(case):
    """The offsets go in before quantisation: integer bias = rne(b' θ), and the
    bound-derived widths still hold on extreme inputs."""
    model, x = case
    conversion = convert_detailed(model, x, timesteps=4, bias_calibration="mse")
    floats = {layer.name: layer for layer in conversion.float_snn.layers}
    for layer in conversion.network.layers:
        if layer.neuron is not None:
            want = fx.rne(floats[layer.name].bias.numpy() * layer.neuron.threshold)
            np.testing.assert_array_equal(layer.bias, want)
    probe = np.concatenate([np.full((1, *SHAPE), 255), np.zeros((1, *SHAPE)), images(SHAPE, 8, seed=63)])
    result = golden.run(conversion.network, probe.astype(np.uint8))
    assert sum(int(count.sum()) for count in result.saturations.values()) == 0


def qcfs_layer(burst: int = 1) -> FloatLayer:
    return FloatLayer("l", "linear", act=Act(ActKind.QCFS, "q", float(burst), 4), burst=burst)


def test_constant_input_needs_no_offset():
    """A constant current z per step is the ANN's own case: with T = L = 4 and
    v_init = 1/2 the rate is QCFS(z) exactly, so both methods leave the bias alone."""
    layer = qcfs_layer()
    z = (torch.linspace(-0.5, 1.5, 401, dtype=torch.float64) + 1e-3).reshape(1, -1).repeat(3, 1)
    current = z.expand(4, *z.shape).clone()
    target = activation(layer.act, z)
    np.testing.assert_array_equal(rates(layer, current, torch.zeros(3)), target)
    for method in (BiasCalibration.MEAN, BiasCalibration.MSE):
        assert torch.equal(layer_offsets(layer, current, target, method), torch.zeros(3, dtype=torch.float64))


def test_mse_never_worse_than_the_mean_offset():
    """Uneven currents (a burst early, less later) and a mix of biased channels:
    the least-squares offsets fit at least as well as Li et al.'s mean offsets, and
    both beat no offset."""
    g = torch.Generator().manual_seed(64)
    layer = qcfs_layer()
    z = torch.rand(5, 300, generator=g) * 1.4 - 0.2
    jitter = torch.randn(4, 5, 300, generator=g) * 0.4
    current = z + jitter - jitter.mean(0)
    target = activation(layer.act, z + torch.tensor([0.0, 0.1, -0.1, 0.2, -0.05])[:, None])

    def mse(offset):
        return ((target - rates(layer, current, offset)) ** 2).mean(1)

    mean = layer_offsets(layer, current, target, BiasCalibration.MEAN)
    best = layer_offsets(layer, current, target, BiasCalibration.MSE)
    assert torch.all(mse(best) <= mse(mean))
    assert mse(mean).sum() < mse(torch.zeros(5)).sum()
    assert mse(best).sum() < mse(mean).sum()


def test_bad_option_names_the_field(case):
    model, x = case
    with pytest.raises(ConversionError, match="option bias_calibration: must be one of 'none', 'mean', 'mse'"):
        convert_detailed(model, x, timesteps=4, bias_calibration="yes")


def test_cli_option(case, tmp_path, monkeypatch, capsys):
    """hwgen convert --bias-calibration mse writes what the Python call gives."""
    from test_convert_export import exported, run_cli

    model, x = case
    torch.export.save(exported(model, SHAPE), tmp_path / "m.pt2")
    np.save(tmp_path / "c.npy", x)
    code, _, err = run_cli(monkeypatch, capsys, "convert", tmp_path / "m.pt2", "--calib", tmp_path / "c.npy",
                           "-o", tmp_path / "net", "-T", 2, "--bias-calibration", "mse")
    assert (code, err) == (0, "")
    want = convert_detailed(model, x, timesteps=2, bias_calibration="mse").network
    same_network(load(tmp_path / "net"), want, names=True)
    assert load(tmp_path / "net").meta["converter"]["bias_calibration"] == "mse"
    code, _, err = run_cli(monkeypatch, capsys, "convert", tmp_path / "m.pt2", "--calib", tmp_path / "c.npy",
                           "-o", tmp_path / "net2", "--bias-calibration", "maybe")
    assert code == 2 and err.startswith("hwgen: error: option bias_calibration: must be one of")
