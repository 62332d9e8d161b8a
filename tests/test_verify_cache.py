"""The demo's verification cache: keyed by everything the result depends on."""
import numpy as np

from hwgen import load, verify_cache
from hwgen.generate import generate
from hwgen.hwconfig import AccelConfig

MLP = "tests/data/conformance-mlp"


def _setup(tmp_path):
    net_dir = tmp_path / "network"
    load(MLP).save(net_dir)
    generate(load(net_dir), tmp_path / "rtl", AccelConfig(2))
    return net_dir, tmp_path / "rtl" / "hwgen_accel.v", np.load(f"{MLP}/inputs.npy")[:3]


def test_key_follows_every_input(tmp_path):
    net_dir, verilog, x = _setup(tmp_path)
    base = verify_cache.key(net_dir, verilog, x, "icarus", AccelConfig(2))
    assert base == verify_cache.key(net_dir, verilog, x.copy(), "icarus", AccelConfig(2))
    changed = x.copy()
    changed[0].flat[0] ^= 1
    others = {verify_cache.key(net_dir, verilog, changed, "icarus", AccelConfig(2)),
              verify_cache.key(net_dir, verilog, x, "verilator", AccelConfig(2)),
              verify_cache.key(net_dir, verilog, x, "icarus", AccelConfig(2, "event"))}
    verilog.write_text(verilog.read_text() + "\n// edited\n")
    others.add(verify_cache.key(net_dir, verilog, x, "icarus", AccelConfig(2)))
    assert base not in others and len(others) == 4


def test_store_then_load(tmp_path, monkeypatch):
    monkeypatch.setenv("HWGEN_CACHE", str(tmp_path / "cache"))
    assert verify_cache.load("ab" * 32) is None
    verify_cache.store("ab" * 32, {"images": 3, "mismatches": []})
    assert verify_cache.load("ab" * 32) == {"images": 3, "mismatches": []}
    assert not list((tmp_path / "cache").glob("*.part"))
