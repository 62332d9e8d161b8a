"""Reading and writing ``hwgen-snn/1`` folders (``hwgen.netfile``).

Round trips on random networks, then every rejection, each built by editing
the JSON or the npz of a valid folder (the CNN conformance example).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import netgen
from hwgen import NetworkError, load
from hwgen.netfile import network_to_json

VALID = Path(__file__).parent / "data" / "conformance-cnn"


# --- round trip -----------------------------------------------------------

def assert_same_network(a, b):
    """Equal JSON documents and equal weight/bias arrays, layer by layer."""
    assert network_to_json(a) == network_to_json(b)
    for la, lb in zip(a.layers, b.layers, strict=True):
        for key in ("weight", "bias"):
            xa, xb = getattr(la, key), getattr(lb, key)
            assert (xa is None) == (xb is None)
            if xa is not None:
                assert xb.dtype == np.int64
                np.testing.assert_array_equal(xa, xb)
                assert xa.shape == xb.shape


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(netgen.networks())
def test_round_trip(network):
    """save -> load keeps the network; saving twice gives identical JSON bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        first, second = Path(tmp, "a"), Path(tmp, "b")
        network.save(first)
        loaded = load(first)
        assert_same_network(network, loaded)
        loaded.save(second)
        network.save(first)
        text = (first / "network.json").read_bytes()
        assert text == (second / "network.json").read_bytes()
        assert sorted(p.name for p in first.iterdir()) == ["network.json", "weights.npz"]
        assert_same_network(network, load(second))


def test_saved_arrays_use_small_dtypes(tmp_path):
    """weights.npz stores each array in the smallest of int8/int16/int32.

    The example's file keeps c1.b (range [-114, 195]) as int32 and f1.b
    ([-46, 41]) and o.b ([-57, -14]) as int16; re-saving narrows them.
    """
    load(VALID).save(tmp_path / "net")
    with np.load(tmp_path / "net" / "weights.npz") as npz:
        dtypes = {key: npz[key].dtype for key in npz.files}
    assert dtypes == {"c1.w": np.int8, "c1.b": np.int16, "c2.w": np.int8, "f1.w": np.int8,
                      "f1.b": np.int8, "o.w": np.int8, "o.b": np.int8}


# --- rejections -----------------------------------------------------------

def valid_folder(tmp_path: Path) -> Path:
    """A fresh writable copy of the valid CNN example."""
    folder = tmp_path / "net"
    shutil.copytree(VALID, folder)
    return folder


def edit_json(folder: Path, change) -> None:
    """Apply ``change(doc)`` to ``network.json`` in place."""
    path = folder / "network.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def edit_npz(folder: Path, change) -> None:
    """Apply ``change(arrays)`` (a dict) to ``weights.npz`` in place."""
    path = folder / "weights.npz"
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    change(arrays)
    np.savez(path, **arrays)


def layer(doc, name: str) -> dict:
    """The layer called ``name`` in a network.json document."""
    return next(spec for spec in doc["layers"] if spec["name"] == name)


def set_field(name: str, key: str, value):
    """A JSON edit setting ``layers[name][key]`` (``neuron.x`` for neuron fields)."""
    def change(doc):
        spec = layer(doc, name)
        if key.startswith("neuron."):
            spec["neuron"][key.split(".", 1)[1]] = value
        else:
            spec[key] = value
    return change


def del_field(name: str, key: str):
    """A JSON edit deleting ``layers[name][key]``."""
    return lambda doc: layer(doc, name).pop(key)


def set_array(key: str, value):
    """An npz edit replacing (or, with ``None``, deleting) array ``key``."""
    def change(arrays):
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    return change


def shape_array(key: str, shape):
    """An npz edit replacing array ``key`` by int8 ones of ``shape``."""
    return set_array(key, np.ones(shape, dtype=np.int8))


def spiking_output(doc):
    """Give the output layer a neuron."""
    layer(doc, "o")["neuron"] = {"threshold": 10, "v_init": 5, "burst": 1, "v_bits": 16}


def pool_last(doc):
    """Make the output layer spiking and append a sumpool after it."""
    spiking_output(doc)
    doc["layers"].append({"name": "p9", "op": "sumpool2d", "kernel": [1, 1], "stride": [1, 1]})


def null_neuron(name: str):
    """A JSON edit making layer ``name`` accumulate-only (neuron null, acc_bits 32)."""
    return lambda doc: layer(doc, name).update(neuron=None, acc_bits=32)


class Case(NamedTuple):
    """A broken folder: its edits and what the error message must contain."""

    json_edit: Callable | None
    npz_edit: Callable | None
    layer: str              # e.g. "layer 'c2'"
    field: str              # e.g. "neuron.v_bits"
    reason: str             # a fragment of the explanation


REJECTIONS = {
    "weight-missing": Case(None, set_array("c2.w", None), "layer 'c2'", "weight", "missing"),
    "conv-in-ch": Case(None, shape_array("c2.w", (4, 3, 3, 3)), "layer 'c2'", "weight", "[4, 4, 3, 3]"),
    "linear-in": Case(None, shape_array("f1.w", (14, 39)), "layer 'f1'", "weight", "[14, 40]"),
    "bias-shape": Case(None, shape_array("f1.b", (13,)), "layer 'f1'", "bias", "[14]"),
    "threshold-0": Case(set_field("c1", "neuron.threshold", 0), None,
                        "layer 'c1'", "neuron.threshold", "> 0"),
    "threshold-neg": Case(set_field("f1", "neuron.threshold", -3), None,
                          "layer 'f1'", "neuron.threshold", "> 0"),
    "burst-0": Case(set_field("f1", "neuron.burst", 0), None, "layer 'f1'", "neuron.burst", ">= 1"),
    "v_bits-1": Case(set_field("c2", "neuron.v_bits", 1), None, "layer 'c2'", "neuron.v_bits", "[2, 48]"),
    "v_bits-49": Case(set_field("c2", "neuron.v_bits", 49), None, "layer 'c2'", "neuron.v_bits", "[2, 48]"),
    "acc_bits-missing": Case(del_field("o", "acc_bits"), None, "layer 'o'", "acc_bits", "missing"),
    "unknown-op": Case(set_field("c2", "op", "maxpool2d"), None, "layer 'c2'", "op", "'maxpool2d'"),
    "float-weight": Case(None, set_array("f1.w", np.ones((14, 40), np.float32)),
                         "layer 'f1'", "weight", "integer dtype"),
    "format": Case(lambda doc: doc.update(format="hwgen-snn/2"), None,
                   "network.json", "format", "'hwgen-snn/1'"),
    "non-last-null": Case(null_neuron("f1"), None, "layer 'f1'", "neuron", "only the last layer"),
    "last-spiking": Case(spiking_output, None, "layer 'o'", "neuron", "non-spiking"),
    "pool-last": Case(pool_last, None, "layer 'p9'", "last layer", "conv2d or linear"),
    "duplicate-name": Case(set_field("c2", "name", "c1"), None, "layer 'c1' (#2)", "name", "earlier layer"),
    "window-too-big": Case(set_field("p1", "kernel", [13, 2]), None, "layer 'p1'", "window", "does not fit"),
    "v_init-too-big": Case(set_field("c2", "neuron.v_init", 2**15), None,
                           "layer 'c2'", "neuron.v_init", "v_bits=16"),
}


def broken_folder(tmp_path: Path, case: str) -> Path:
    """A copy of the valid folder with the edits of ``REJECTIONS[case]``."""
    json_edit, npz_edit = REJECTIONS[case].json_edit, REJECTIONS[case].npz_edit
    folder = valid_folder(tmp_path)
    if json_edit:
        edit_json(folder, json_edit)
    if npz_edit:
        edit_npz(folder, npz_edit)
    return folder


def test_valid_folder_loads(tmp_path):
    """The base of every rejection is itself valid (edits are the only fault)."""
    folder = valid_folder(tmp_path)
    edit_json(folder, lambda doc: None)
    edit_npz(folder, lambda arrays: None)
    assert [spec.name for spec in load(folder).layers] == ["c1", "p1", "c2", "f1", "o"]


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_rejection(tmp_path, case):
    """Each broken folder raises NetworkError naming the layer and the field."""
    expect = REJECTIONS[case]
    with pytest.raises(NetworkError) as error:
        load(broken_folder(tmp_path, case))
    message = str(error.value)
    for fragment in (expect.layer, expect.field, expect.reason):
        assert fragment in message, message
    assert "\n" not in message


def test_cli_validate_bad_folder(tmp_path):
    """``hwgen validate`` on a bad folder: exit 2, one stderr line, no traceback."""
    folder = broken_folder(tmp_path, "threshold-0")
    hwgen = Path(sys.executable).with_name("hwgen")
    proc = subprocess.run([str(hwgen), "validate", str(folder)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("hwgen: error:")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "layer 'c1'" in proc.stderr and "neuron.threshold" in proc.stderr


def zero_classes(arrays):
    """An npz edit giving the output layer no neurons at all."""
    arrays["o.w"] = np.zeros((0, 14), dtype=np.int8)
    arrays["o.b"] = np.zeros((0,), dtype=np.int16)


def test_rejects_zero_classes(tmp_path):
    """An output layer with no neurons is rejected, naming the layer and the weight."""
    folder = valid_folder(tmp_path)
    edit_npz(folder, zero_classes)
    with pytest.raises(NetworkError, match=r"layer 'o'.*weight"):
        load(folder)


def test_rejects_non_object_meta(tmp_path):
    """A ``meta`` that is not a JSON object is a NetworkError naming the field."""
    folder = valid_folder(tmp_path)
    edit_json(folder, lambda doc: doc.update(meta=[1]))
    with pytest.raises(NetworkError, match="meta"):
        load(folder)
