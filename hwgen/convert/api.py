"""``hwgen.convert``: a trained torch model to an integer ``hwgen-snn/1`` network."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .. import __version__
from .. import fixedpoint as fx
from ..errors import ConversionError
from ..network import Network
from ..reference import FloatNetwork
from .biascal import calibrate_biases
from .calibrate import thresholds
from .config import BiasCalibration, ConvertConfig
from .exported import lower_exported
from .fir import Normalise, PlanLayer
from .passes import run_passes
from .quantise import normalised, quantised
from .trace import lower


@dataclass(frozen=True, eq=False)
class Conversion:
    """Everything a conversion produced.

    Attributes
    ----------
    network : Network
        The integer network (what ``.save`` writes).
    float_snn : FloatNetwork
        The same network before quantisation, in spike units (float reference).
    plan : list of PlanLayer
        The folded float layers in original units.
    lambdas : dict
        Threshold λ per spiking layer (learned or calibrated).
    bias_offsets : dict
        Bias calibration offsets δ per spiking layer (spike units per step;
        empty without bias calibration). ``float_snn`` includes them.
    """

    network: Network
    float_snn: FloatNetwork
    plan: list[PlanLayer]
    lambdas: dict[str, float]
    bias_offsets: dict[str, np.ndarray] = field(default_factory=dict)

    def save(self, folder):
        return self.network.save(folder)


def pixels(images, bits: int) -> np.ndarray:
    """Integer pixels from integer images or floats in [0, 1] (``rne(x·(2^bits-1))``)."""
    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    top = 2 ** bits - 1
    if x.dtype.kind == "f":
        if x.size and not np.isfinite(x).all():
            raise ConversionError("float calibration images contain NaN or infinity")
        if x.size and (x.min() < 0 or x.max() > 1):
            raise ConversionError(f"float calibration images must lie in [0, 1], got [{x.min():.3g}, {x.max():.3g}]")
        x = fx.rne(x * top)
    elif x.dtype.kind not in "iu":
        raise ConversionError(f"calibration images must be integers or floats in [0, 1], got {x.dtype}")
    elif x.size and (x.min() < 0 or x.max() > top):
        raise ConversionError(f"integer calibration images must lie in [0, {top}]")
    return x.astype(np.int64)


def _meta(config: ConvertConfig, plan, lambdas, bursts, offsets) -> dict:
    layers = {}
    for layer in plan:
        if layer.act is not None:
            layers[layer.name] = {"source": layer.source, "activation": layer.act.kind.value,
                                  "levels": layer.act.levels, "lambda": lambdas[layer.name],
                                  "unit": lambdas[layer.name] / bursts[layer.name]}
            if layer.name in offsets:
                layers[layer.name]["bias_offset"] = [round(float(v), 6) for v in offsets[layer.name]]
    converter = {"hwgen": __version__, "weight_bits": config.weight_bits,
                 "input_mean": config.input_mean, "input_std": config.input_std,
                 "v_init": config.v_init.value, "norm": config.norm.value, "percentile": config.percentile}
    if config.bias_calibration is not BiasCalibration.NONE:
        converter["bias_calibration"] = config.bias_calibration.value
    return {"converter": converter, "layers": layers}


def _records(model, x: np.ndarray, config: ConvertConfig) -> list:
    """The float-IR chain of a live module or of a ``torch.export`` program."""
    if isinstance(model, torch.export.ExportedProgram):
        records, shape = lower_exported(model)
        if tuple(x.shape[1:]) != shape:
            raise ConversionError(f"calibration images have shape {list(x.shape[1:])} but the model takes "
                                  f"{list(shape)} (per image)")
        return records
    if not isinstance(model, nn.Module):
        raise ConversionError(f"expected a torch nn.Module or torch.export.ExportedProgram, got {type(model).__name__}")
    was_training = model.training
    try:
        return lower(model.eval(), torch.as_tensor(x[:2], dtype=torch.float32) / (2 ** config.input_bits - 1))
    finally:
        model.train(was_training)


def convert_detailed(model, calibration, *, timesteps: int, **options) -> Conversion:
    """Like :func:`convert`, returning the float reference, plan and λ too.

    ``options`` are the keyword arguments of :func:`convert`
    (:class:`~hwgen.convert.config.ConvertConfig` fields).
    """
    config = ConvertConfig(timesteps=timesteps, **options)
    x = pixels(calibration, config.input_bits)
    if x.ndim < 2 or len(x) == 0:
        raise ConversionError("calibration must be a non-empty batch [N, *input_shape]")
    records = _records(model, x, config)
    if config.input_mean is not None or config.input_std is not None:
        mean = np.asarray(config.input_mean or (0.0,), dtype=np.float64)
        std = np.asarray(config.input_std or (1.0,), dtype=np.float64)
        records = [Normalise("input", mean, std, origin="input_mean/input_std")] + records
    plan = run_passes(records)
    lambdas = thresholds(plan, x, config)
    bursts = config.bursts([layer.name for layer in plan if layer.act is not None])
    float_snn, offsets = normalised(plan, lambdas, bursts, config), {}
    if config.bias_calibration is not BiasCalibration.NONE:
        float_snn, offsets = calibrate_biases(float_snn, x, config.bias_calibration)
    network = quantised(float_snn, config, x.shape[1:], _meta(config, plan, lambdas, bursts, offsets))
    return Conversion(network, float_snn, plan, lambdas, offsets)


def convert(model: nn.Module, calibration, *, timesteps: int, weight_bits: int = 8, input_bits: int = 8,
            burst=1, v_init="half", norm="percentile", percentile: float = 99.99,
            input_mean=None, input_std=None, v_bits=None, acc_bits=None, bias_calibration="none") -> Network:
    """Convert a trained torch model to an integer SNN.

    Parameters
    ----------
    model : nn.Module or torch.export.ExportedProgram
        A chain of Conv2d / Linear / BatchNorm / activations (ReLU, ReLU6,
        Hardtanh(0, m), clamp, :class:`hwgen.nn.QCFS`, :class:`hwgen.nn.RNL`) /
        AvgPool2d / AdaptiveAvgPool2d(1) / Flatten / Dropout, ending in a conv
        or linear (the logits), seeing inputs in [0, 1]. ``nn.Sequential``,
        any fx-traceable forward, or the program ``torch.export.export`` made
        of such a model (in eval mode).
    calibration : array_like
        Sample images ``[N, *input_shape]``: integer pixels or floats in [0, 1].
    timesteps : int
        ``T``. Widths are sized so no smaller ``T`` saturates either.
    weight_bits, input_bits : int
    burst : int or sequence of int
        Γ for all spiking layers, or one per spiking layer.
    v_init : {"half", "zero"}
    norm : {"percentile", "max"}
        How plain ReLU thresholds are calibrated.
    percentile : float
    input_mean, input_std : float or sequence, optional
        Input normalisation the model expects, folded into the first layer.
    v_bits, acc_bits : int, optional
        Force widths instead of the never-saturating worst case.
    bias_calibration : {"none", "mean", "mse"}
        Fit per-channel bias offsets on ``calibration`` so that each spiking
        layer's firing rate over ``timesteps`` steps matches the ANN's
        activation (Li et al., 2021; :mod:`hwgen.convert.biascal`). Helps most
        at few timesteps with Γ = 1; the network is calibrated for this ``T``.

    Returns
    -------
    Network
        Validated; ``.save(dir)`` writes the ``hwgen-snn/1`` folder.
    """
    return convert_detailed(model, calibration, timesteps=timesteps, input_mean=input_mean, input_std=input_std,
                            weight_bits=weight_bits, input_bits=input_bits, burst=burst, v_init=v_init,
                            norm=norm, percentile=percentile, v_bits=v_bits, acc_bits=acc_bits,
                            bias_calibration=bias_calibration).network
