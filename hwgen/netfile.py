"""Read and write ``hwgen-snn/1`` folders (``network.json`` + ``weights.npz``).

Parsing is strict: every problem becomes a :class:`~hwgen.errors.NetworkError`
naming the layer and the field. Writing is atomic: the folder appears
complete or not at all.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import NetworkError
from .fixedpoint import storage_dtype
from .network import FORMAT, InputSpec, Layer, Network, Neuron, Op

JSON_NAME, WEIGHTS_NAME = "network.json", "weights.npz"


def _pair(where: str, name: str, value, default=None) -> tuple[int, int]:
    if value is None and default is not None:
        return default
    if not isinstance(value, (list, tuple)) or len(value) != 2 \
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise NetworkError(f"{where}: {name} must be a list of two integers, got {value!r}")
    return tuple(value)


def _array(where: str, arrays: dict[str, np.ndarray], spec: dict, key: str, required: bool):
    name = spec.get(key)
    if name is None:
        if required:
            raise NetworkError(f"{where}: field '{key}' is missing")
        return None, None
    if not isinstance(name, str):
        raise NetworkError(f"{where}: {key} must name an array in {WEIGHTS_NAME}, got {name!r}")
    if name not in arrays:
        raise NetworkError(f"{where}: {key} array '{name}' is missing from {WEIGHTS_NAME}")
    array = arrays[name]
    if array.dtype.kind not in "iu":
        raise NetworkError(f"{where}: {key} array '{name}' must have an integer dtype, got {array.dtype}")
    return array.astype(np.int64), name


def _neuron(where: str, spec) -> Neuron:
    if not isinstance(spec, dict):
        raise NetworkError(f"{where}: neuron must be an object or null, got {spec!r}")
    fields = {}
    for name in ("threshold", "v_init", "burst", "v_bits"):
        if name not in spec:
            raise NetworkError(f"{where}: field 'neuron.{name}' is missing")
        fields[name] = spec[name]
    return Neuron(**fields)


def _layer(index: int, spec: Any, arrays: dict[str, np.ndarray]) -> Layer:
    if not isinstance(spec, dict):
        raise NetworkError(f"layer #{index}: must be an object, got {spec!r}")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise NetworkError(f"layer #{index}: field 'name' is missing")
    where = f"layer '{name}' (#{index})"
    try:
        op = Op(spec.get("op"))
    except ValueError:
        known = ", ".join(o.value for o in Op)
        raise NetworkError(f"{where}: unknown op {spec.get('op')!r} (known: {known})") from None
    if op is Op.SUMPOOL2D:
        kernel = _pair(where, "kernel", spec.get("kernel"))
        return Layer(name, op, kernel=kernel, stride=_pair(where, "stride", spec.get("stride"), kernel),
                     padding=_pair(where, "padding", spec.get("padding"), (0, 0)))
    if "neuron" not in spec:
        raise NetworkError(f"{where}: field 'neuron' is missing (null for the output layer)")
    weight, weight_key = _array(where, arrays, spec, "weight", required=True)
    bias, bias_key = _array(where, arrays, spec, "bias", required=False)
    neuron = None if spec["neuron"] is None else _neuron(where, spec["neuron"])
    geometry = {}
    if op is Op.CONV2D:
        geometry = dict(stride=_pair(where, "stride", spec.get("stride"), (1, 1)),
                        padding=_pair(where, "padding", spec.get("padding"), (0, 0)))
    acc_bits = spec.get("acc_bits") if neuron is None else None
    return Layer(name, op, weight=weight, bias=bias, neuron=neuron, acc_bits=acc_bits,
                 weight_key=weight_key, bias_key=bias_key, **geometry)


def network_from_json(doc: Any, arrays: dict[str, np.ndarray]) -> Network:
    """Build a validated :class:`Network` from parsed JSON and its arrays."""
    if not isinstance(doc, dict):
        raise NetworkError(f"{JSON_NAME}: must be a JSON object")
    if doc.get("format") != FORMAT:
        raise NetworkError(f"{JSON_NAME}: format must be '{FORMAT}', got {doc.get('format')!r}")
    for key in ("timesteps", "input", "layers"):
        if key not in doc:
            raise NetworkError(f"{JSON_NAME}: field '{key}' is missing")
    spec = doc["input"]
    if not isinstance(spec, dict) or not isinstance(spec.get("shape"), list):
        raise NetworkError("input: field 'shape' is missing")
    signed = spec.get("signed", False)
    if not isinstance(signed, bool):
        raise NetworkError(f"input: signed must be true or false, got {signed!r}")
    input_spec = InputSpec(tuple(spec["shape"]), spec.get("bits", 8), signed)
    if not isinstance(doc["layers"], list):
        raise NetworkError(f"{JSON_NAME}: layers must be a list")
    layers = tuple(_layer(i, layer, arrays) for i, layer in enumerate(doc["layers"]))
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise NetworkError(f"network: meta must be an object, got {type(meta).__name__}")
    return Network(doc["timesteps"], input_spec, layers, dict(meta))


def load(folder: str | os.PathLike) -> Network:
    """Read and validate a network folder."""
    folder = Path(folder)
    json_path, npz_path = folder / JSON_NAME, folder / WEIGHTS_NAME
    if not json_path.is_file():
        raise NetworkError(f"{folder}: no {JSON_NAME} (is this a network folder?)")
    try:
        doc = json.loads(json_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise NetworkError(f"{json_path}: not valid JSON ({err})") from None
    arrays = {}
    if npz_path.is_file():
        try:
            with np.load(npz_path, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except (ValueError, OSError, zipfile.BadZipFile) as err:
            raise NetworkError(f"{npz_path}: not a readable .npz ({err})") from None
    return network_from_json(doc, arrays)


def _layer_json(layer: Layer) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": layer.name, "op": layer.op.value}
    if layer.op is Op.SUMPOOL2D:
        doc.update(kernel=list(layer.kernel), stride=list(layer.stride))
        if layer.padding != (0, 0):
            doc["padding"] = list(layer.padding)
        return doc
    doc["weight"] = layer.weight_key or f"{layer.name}.weight"
    doc["bias"] = None if layer.bias is None else (layer.bias_key or f"{layer.name}.bias")
    if layer.op is Op.CONV2D:
        doc.update(stride=list(layer.stride), padding=list(layer.padding))
    if layer.neuron is None:
        doc.update(neuron=None, acc_bits=layer.acc_bits)
    else:
        n = layer.neuron
        doc["neuron"] = {"threshold": n.threshold, "v_init": n.v_init, "burst": n.burst, "v_bits": n.v_bits}
    return doc


def network_to_json(network: Network) -> dict[str, Any]:
    """The ``network.json`` document of ``network``."""
    spec = network.input
    doc = {
        "format": FORMAT,
        "timesteps": network.timesteps,
        "input": {"shape": list(spec.shape), "bits": spec.bits, "signed": spec.signed},
        "layers": [_layer_json(layer) for layer in network.layers],
    }
    if network.meta:
        doc["meta"] = network.meta
    return doc


def _arrays(network: Network) -> dict[str, np.ndarray]:
    arrays = {}
    for layer, doc in zip(network.layers, network_to_json(network)["layers"]):
        for key in ("weight", "bias"):
            array = getattr(layer, key)
            if array is not None:
                arrays[doc[key]] = array.astype(storage_dtype(array))
    return arrays


def save(network: Network, folder: str | os.PathLike) -> Path:
    """Write ``network`` to ``folder`` atomically (replacing its two files)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".hwgen-", dir=folder.parent))
    try:
        (staging / JSON_NAME).write_text(json.dumps(network_to_json(network), indent=1) + "\n")
        np.savez(staging / WEIGHTS_NAME, **_arrays(network))
        folder.mkdir(exist_ok=True)
        for name in (WEIGHTS_NAME, JSON_NAME):
            os.replace(staging / name, folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
