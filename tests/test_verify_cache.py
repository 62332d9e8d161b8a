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
    (net_dir / "network.json").write_text((net_dir / "network.json").read_text() + " ")
    others.add(verify_cache.key(net_dir, verilog, x, "icarus", AccelConfig(2)))
    assert base not in others and len(others) == 5


def test_store_then_load_only_passing_results_of_that_many_images(tmp_path, monkeypatch):
    monkeypatch.setenv("HWGEN_CACHE", str(tmp_path / "cache"))
    assert verify_cache.load("ab" * 32, 3) is None
    verify_cache.store("ab" * 32, {"images": 3, "mismatches": [], "ok": True})
    assert verify_cache.load("ab" * 32, 3) == {"images": 3, "mismatches": [], "ok": True}
    assert verify_cache.load("ab" * 32, 4) is None
    verify_cache.store("cd" * 32, {"images": 3, "ok": False})
    assert verify_cache.load("cd" * 32, 3) is None
    assert not list((tmp_path / "cache").glob("*.part"))


def test_an_unwritable_cache_is_skipped(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("HWGEN_CACHE", str(tmp_path / "file" / "cache"))    # a path under a file
    verify_cache.store("ab" * 32, {"images": 1, "ok": True})
    assert verify_cache.load("ab" * 32, 1) is None
