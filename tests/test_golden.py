"""The golden model (``hwgen.sim.golden``) against SPEC.md §2.

Three independent witnesses: the shared conformance examples, a network
computed by hand, and the literal oracle ``tests/literal.py`` on random
networks.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import literal
import netgen
from hwgen import HwgenError, InputSpec, Layer, Network, Neuron, Op, load
from hwgen.sim import golden

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", ["conformance-cnn", "conformance-mlp"])
def test_conformance_examples(name):
    """The shared examples reproduce expected_logits.npy exactly."""
    folder = DATA / name
    x = np.load(folder / "inputs.npy")
    expected = np.load(folder / "expected_logits.npy")
    result = golden.run(load(folder), x)
    assert result.logits.dtype == np.int64
    np.testing.assert_array_equal(result.logits, expected)
    np.testing.assert_array_equal(result.prediction, np.argmax(expected, axis=1))


# --- a network computed by hand ------------------------------------------

def hand_network() -> Network:
    """Input [2]; h: linear 2->3, θ=10, Γ=2, v_init=-3 (not θ//2), v_bits=6
    (range [-32, 31]); out: linear 3->2, acc_bits=6 (range [-32, 31]); T=3."""
    h = Layer("h", Op.LINEAR, weight=np.array([[5, 2], [-4, 1], [20, 0]]),
              bias=np.array([0, -2, 1]), neuron=Neuron(threshold=10, v_init=-3, burst=2, v_bits=6))
    out = Layer("out", Op.LINEAR, weight=np.array([[6, 0, 2], [-1, 5, -2]]),
                bias=np.array([1, 0]), acc_bits=6)
    return Network(3, InputSpec((2,)), (h, out))


# Image A = [3, 1].  I_h = [5*3+2*1+0, -4*3+1*1-2, 20*3+0*1+1] = [17, -13, 61].
#   t=0: n0 V=-3+17=14 -> k=floor(14/10)=1, V=4
#        n1 V=-3-13=-16 -> floor=-2 -> k=0 (negative: emits nothing), V=-16
#        n2 V=-3+61=58 -> sat 31 (event) -> floor=3 -> clamp to Γ: k=2, V=11
#        spikes 1+0+2=3
#   t=1: n0 V=4+17=21 -> k=2 (burst k>1), V=1
#        n1 V=-16-13=-29 -> k=0 (stays negative)
#        n2 V=11+61=72 -> sat 31 (event) -> k=2, V=11;  spikes 2+0+2=4
#   t=2: n0 V=1+17=18 -> k=1, V=8
#        n1 V=-29-13=-42 -> sat -32 (event), k=0
#        n2 V=72 -> sat 31 (event) -> k=2, V=11;  spikes 1+0+2=3
#   h saturations: 1+1+2 = 4; neurons firing per step: 2, 2, 2
#   out: I = W_o s + b_o with s = [1,0,2], [2,0,2], [1,0,2]:
#        row0 (6,0,2; +1): 6+4+1=11, 12+4+1=17, 11 -> V 11, 28, 39 -> sat 31 (event)
#        row1 (-1,5,-2; 0): -1-4=-5, -2-4=-6, -5  -> V -5, -11, -16
#   logits [31, -16], out saturations 1, prediction 0
#   (v_init = θ//2 = 5 would give spikes [4, 3, 4] and logits [31, -17].)
# Image B = [0, 0].  I_h = b_h = [0, -2, 1]; V from -3: n0 -3,-3,-3;
#   n1 -5,-7,-9; n2 -2,-1,0: nothing reaches θ=10 -> no spikes, no saturation.
#   out: I = b_o = [1, 0] each step -> logits [3, 0], prediction 0
HAND_X = np.array([[3, 1], [0, 0]], dtype=np.uint8)
HAND_LOGITS = [[31, -16], [3, 0]]
HAND_SPIKES = [[3, 4, 3], [0, 0, 0]]
HAND_SATURATIONS = {"h": [4, 0], "out": [1, 0]}


def test_hand_computed_example():
    """Burst, negative membrane, saturation, v_init and acc_bits, by hand."""
    result = golden.run(hand_network(), HAND_X)
    assert result.logits.tolist() == HAND_LOGITS
    assert result.prediction.tolist() == [0, 0]
    assert result.spikes["h"].tolist() == HAND_SPIKES
    assert {k: v.tolist() for k, v in result.saturations.items()} == HAND_SATURATIONS
    assert result.active["h"].tolist() == [[2, 2, 2], [0, 0, 0]]


def test_hand_computed_example_literal():
    """The oracle agrees with the hand computation (it is itself tested)."""
    result = literal.run(hand_network(), HAND_X)
    assert result.logits == HAND_LOGITS
    assert result.spikes == {"h": HAND_SPIKES}
    assert result.saturations == HAND_SATURATIONS


# --- golden == literal on random networks --------------------------------

def assert_same(result: golden.GoldenResult, oracle: literal.LiteralResult):
    """Logits, per-step spike counts and saturation counts all agree."""
    assert result.logits.tolist() == oracle.logits
    assert {k: v.tolist() for k, v in result.spikes.items()} == oracle.spikes
    assert {k: v.tolist() for k, v in result.saturations.items()} == oracle.saturations
    assert result.prediction.tolist() == [row.index(max(row)) for row in oracle.logits]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(netgen.networks_and_inputs())
def test_golden_matches_literal(case):
    """hwgen.sim.golden.run == the literal reading of SPEC §2."""
    network, x = case
    assert_same(golden.run(network, x), literal.run(network, x))


@pytest.mark.parametrize("seed", range(5))
def test_batch_size_splitting(seed):
    """Any batch_size gives identical results, including progress totals."""
    network = netgen.random_network(seed)
    x = netgen.random_inputs(network, seed, count=7)
    whole = golden.run(network, x, batch_size=512)
    seen = []
    split = golden.run(network, x, batch_size=3, progress=seen.append)
    assert seen == [3, 3, 1]
    for field in ("spikes", "active", "saturations"):
        a, b = getattr(whole, field), getattr(split, field)
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(whole.logits, split.logits)
    np.testing.assert_array_equal(whole.prediction, split.prediction)


# --- argmax and input checks ---------------------------------------------

def constant_network(bias) -> Network:
    """One accumulate-only layer with zero weights: logits = T * bias."""
    out = Layer("out", Op.LINEAR, weight=np.zeros((len(bias), 3), dtype=np.int64),
                bias=np.array(bias), acc_bits=16)
    return Network(2, InputSpec((3,)), (out,))


@pytest.mark.parametrize("bias, winner", [([5, 7, 7], 1), ([7, 7, 7], 0), ([1, 2, 9, 9, 3], 2)])
def test_argmax_tie_goes_to_lowest_index(bias, winner):
    """Equal logits: the prediction is the lowest index among them."""
    result = golden.run(constant_network(bias), np.zeros((1, 3), dtype=np.uint8))
    assert result.logits.tolist() == [[2 * b for b in bias]]
    assert result.prediction.tolist() == [winner]


@pytest.mark.parametrize("x", [
    np.full((1, 3), 256),                     # above 8-bit range
    np.full((1, 3), -1),                      # below unsigned range
    np.zeros((1, 4), dtype=np.uint8),         # wrong feature count
    np.zeros((3,), dtype=np.uint8),           # missing batch axis
    np.zeros((1, 3), dtype=np.float32),       # float dtype
], ids=["over", "under", "shape", "no-batch", "float"])
def test_bad_inputs_raise(x):
    """Out-of-range, wrongly shaped or float inputs are a HwgenError."""
    with pytest.raises(HwgenError):
        golden.run(constant_network([1, 2]), x)


# --- the CLI: hwgen run ---------------------------------------------------

def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Call ``hwgen.cli.main`` with ``args``; return (exit code, stdout, stderr).

    ``hwgen/cli.py`` has no ``__main__`` guard, so ``python -m hwgen.cli``
    would do nothing; the console-script entry point is called in-process.
    """
    from hwgen import cli

    monkeypatch.setattr(sys, "argv", ["hwgen", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    return exit_info.value.code or 0, captured.out, captured.err


def test_cli_run_writes_results(tmp_path, monkeypatch, capsys):
    """hwgen run writes logits [N, classes] int64, prediction [N], spike totals."""
    folder = DATA / "conformance-mlp"
    expected = np.load(folder / "expected_logits.npy")
    labels = tmp_path / "labels.npy"
    np.save(labels, np.argmax(expected, axis=1))
    output = tmp_path / "out" / "results.npz"
    code, out, err = run_cli(monkeypatch, capsys, "run", folder, "-i", folder / "inputs.npy",
                             "-o", output, "--labels", labels, "--batch-size", "5")
    assert (code, err) == (0, "")
    assert json.loads(out) == {"images": 16, "output": str(output), "accuracy": 1.0}
    reference = golden.run(load(folder), np.load(folder / "inputs.npy"))
    with np.load(output) as npz:
        assert sorted(npz.files) == ["logits", "prediction", "saturations/f1", "saturations/o", "spikes/f1"]
        assert npz["logits"].dtype == np.int64 and npz["logits"].shape == (16, 10)
        np.testing.assert_array_equal(npz["logits"], expected)
        np.testing.assert_array_equal(npz["prediction"], np.argmax(expected, axis=1))
        np.testing.assert_array_equal(npz["spikes/f1"], reference.spikes["f1"].sum(axis=1))
        assert npz["spikes/f1"].shape == (16,)


def test_cli_run_missing_folder(tmp_path, monkeypatch, capsys):
    """A missing network folder: exit 2, one line on stderr, no traceback."""
    inputs = tmp_path / "x.npy"
    np.save(inputs, np.zeros((1, 18), dtype=np.uint8))
    output = tmp_path / "results.npz"
    code, out, err = run_cli(monkeypatch, capsys, "run", tmp_path / "nope", "-i", inputs, "-o", output)
    assert code == 2
    assert err.startswith("hwgen: error:") and err.count("\n") == 1
    assert "nope" in err and "Traceback" not in err
    assert not output.exists()


def test_empty_batch():
    """N = 0 images gives empty results of the right shapes."""
    result = golden.run(load(DATA / "conformance-mlp"), np.zeros((0, 18), dtype=np.uint8))
    assert result.logits.shape == (0, 10)
    assert result.prediction.shape == (0,)
    assert result.spikes["f1"].shape == (0, 4)
