"""Verilog generation and cocotb verification on Icarus and Verilator."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from hwgen import load
from hwgen.generate import generate
from hwgen.hwconfig import AccelConfig
from hwgen.hwverify import icarus_source, verify
from hwgen.sim.bench.nets import demo_like, images
from hwgen.sim.cycles import inference_cycles
from netgen import random_inputs, random_network

CNN, MLP = "tests/data/conformance-cnn", "tests/data/conformance-mlp"


HWGEN = [sys.executable, "-c", "from hwgen.cli import main; main()"]


def hwgen_cli(*args):
    return subprocess.run([*HWGEN, *map(str, args)], capture_output=True, text=True)


def test_generate_is_byte_identical(tmp_path):
    network = load(MLP)
    first = generate(network, tmp_path / "a", AccelConfig(2, "event"))
    second = generate(network, tmp_path / "b", AccelConfig(2, "event"))
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes()
    doc = json.loads(first["hwgen_accel.json"].read_text())
    assert doc["config"] == {"lanes": 2, "mode": "event"}
    assert doc["memories"]["weight_rom"]["banks"] == 2 and doc["classes"] == 10 or doc["classes"] > 0
    assert "module hwgen_accel" in first["hwgen_accel.v"].read_text()
    assert "initial #0" in icarus_source(first["hwgen_accel.v"].read_text())


@pytest.mark.parametrize("args", [["--lanes", "0"], ["--mode", "sparse"], ["--weights", "flash"],
                                  ["--membranes", "flash"], ["--cache", "maybe"], ["--multipliers", "luts"],
                                  ["--membranes", "spram", "--mode", "event"],
                                  ["--membranes", "spram", "--cache", "on"]])
def test_generate_bad_input_is_one_line_exit_2(tmp_path, args):
    done = hwgen_cli("generate", MLP, "-o", tmp_path / "out", *args)
    assert done.returncode == 2
    assert done.stderr.startswith("hwgen: error:") and done.stderr.count("\n") == 1


def test_generate_cli_and_missing_network(tmp_path):
    done = hwgen_cli("generate", MLP, "-o", tmp_path / "out", "--lanes", "3")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "hwgen_accel.v").is_file()
    assert hwgen_cli("generate", tmp_path / "nothing", "-o", tmp_path / "o2").returncode == 2


def test_verify_cli_icarus_report(tmp_path):
    x = np.load(f"{MLP}/inputs.npy")[:3]
    np.save(tmp_path / "x.npy", x)
    done = hwgen_cli("verify", MLP, "--input", tmp_path / "x.npy", "--sim", "icarus", "--lanes", "2",
                     "--mode", "event", "--report", tmp_path / "r.json", "--jobs", "2", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert json.loads(done.stdout) == report
    assert report["images"] == 3 and report["mismatches"] == [] and report["cycle_mismatches"] == []
    assert report["cycles"] == inference_cycles(load(MLP), AccelConfig(2, "event"), x).tolist()


@pytest.mark.parametrize("simulator,lanes,mode", [("icarus", 3, "dense"), ("verilator", 2, "event")])
def test_conformance_cnn(simulator, lanes, mode):
    x = np.load(f"{CNN}/inputs.npy")[:2]
    result = verify(load(CNN), x, AccelConfig(lanes, mode), simulator, fast_build=True)
    assert result.ok, result.summary()
    np.testing.assert_array_equal(np.load(f"{CNN}/expected_logits.npy")[:2].shape[0], 2)


# Each memory variant on both simulators: the weight bank loaded first by the bench (no ROM);
# single-port membranes with no first-layer cache; spike buffers in LUT RAM (registered read
# address, registered loader write).
MEMORY_VARIANTS = [("icarus", 2, "event", dict(weights="loaded")), ("verilator", 3, "dense", dict(weights="loaded")),
                   ("icarus", 2, "dense", dict(weights="loaded", membranes="spram", cache=False)),
                   ("verilator", 3, "dense", dict(weights="loaded", membranes="spram", cache=False)),
                   ("icarus", 3, "event", dict(buffers="distributed")),
                   ("verilator", 2, "dense", dict(buffers="distributed"))]


@pytest.mark.parametrize("simulator,lanes,mode,memories", MEMORY_VARIANTS)
def test_memory_variants_verify(simulator, lanes, mode, memories):
    """The Verilog of every memory placement matches the golden model, logits and cycles."""
    x = np.load(f"{CNN}/inputs.npy")[:2]
    result = verify(load(CNN), x, AccelConfig(lanes, mode, **memories), simulator, fast_build=True)
    assert result.ok, result.summary()
    described = result.config.to_json()
    assert all(described.get(k, True) == v for k, v in memories.items())


@pytest.mark.parametrize("simulator,seed,lanes,mode", [("icarus", 30, 2, "event"), ("icarus", 9, 1, "dense"),
                                                       ("icarus", 12, 3, "dense")])
def test_random_network(simulator, seed, lanes, mode):
    """Pools (stand-alone, padded, on pixels), stride, padding, burst up to 4."""
    network = random_network(seed)
    x = random_inputs(network, seed, 3)
    result = verify(network, x, AccelConfig(lanes, mode), simulator, fast_build=True)
    assert result.ok, result.summary()


def test_verify_reports_mismatches(monkeypatch):
    """A wrong expectation is reported with the image, output, expected and got (images shared by 2 jobs)."""
    import hwgen.sim.golden as golden

    network = demo_like(0, size=8, channels=(2, 2), hidden=3, classes=2, timesteps=2)
    real = golden.run

    def off_by_one(net, x, **kw):
        result = real(net, x, **kw)
        result.logits[-1] += 1
        return result

    monkeypatch.setattr(golden, "run", off_by_one)
    result = verify(network, images(0, 3, 8), AccelConfig(1), "icarus", jobs=2)
    assert not result.ok and len(result.mismatches) == 2
    assert result.mismatches[0][:2] == (2, 0) and result.mismatches[0][2] == result.mismatches[0][3] + 1
    assert "expected" in result.summary()


def test_run_cli_adds_cycles(tmp_path):
    from hwgen.sim.cycles import inference_cycles

    x = np.load(f"{MLP}/inputs.npy")[:3]
    np.save(tmp_path / "x.npy", x)
    done = hwgen_cli("run", MLP, "-i", tmp_path / "x.npy", "-o", tmp_path / "r.npz", "--lanes", "2",
                     "--mode", "event")
    assert done.returncode == 0, done.stderr
    expected = inference_cycles(load(MLP), AccelConfig(2, "event"), x).tolist()
    assert json.loads(done.stdout)["cycles"] == expected
    assert np.load(tmp_path / "r.npz")["cycles"].tolist() == expected


def test_a_share_that_stops_early_names_its_images(monkeypatch):
    """Image 0 times out (expected far fewer cycles than it takes): its share stops there, image 1 of that
    share is reported as not simulated, the other share's image 2 still compares under its own number."""
    import hwgen.sim.cycles as cycles

    network = demo_like(0, size=8, channels=(2, 2), hidden=3, classes=2, timesteps=2)
    real = cycles.inference_cycles

    def too_few_for_image_0(net, config, x):
        out = real(net, config, x).copy()
        out[0] = 10                                   # bench timeout: 2 * 10 + 1000 cycles < the real count
        return out

    monkeypatch.setattr(cycles, "inference_cycles", too_few_for_image_0)
    seen = []
    result = verify(network, images(0, 3, 8), AccelConfig(1), "icarus", jobs=2, on_progress=seen.append)
    assert not result.ok and result.mismatches == []
    assert result.cycle_mismatches == [(0, 10, -1)]
    assert "images 1..1 were not simulated" in result.error
    assert result.cycles[1] == -1 and result.cycles[2] == real(network, AccelConfig(1), images(0, 3, 8))[2]
    assert seen and seen[-1] == 1                    # progress counts finished images: only image 2
