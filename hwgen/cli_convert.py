"""``hwgen convert``: a ``torch.export`` model file to a network folder.

The model file is what ``torch.export.save(torch.export.export(model.eval(),
(example,)), "model.pt2")`` writes; the conversion itself is
:func:`hwgen.convert.convert_detailed` on the loaded program. Nothing is
written unless the conversion succeeds (the folder is saved atomically).
"""
from __future__ import annotations

import contextlib
import logging
import warnings
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from .cli import app, load_inputs
from .errors import HwgenError

CALIB_HELP = ("calibration images .npy [N, *input_shape]: floats in [0, 1], or uint8 pixels (divided by 255); "
              "they become integer pixels round(x·(2^input_bits - 1))")


@contextlib.contextmanager
def _quiet(*loggers: str):
    """Silence torch's multi-line log warnings (errors are reported on one line)."""
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def load_program(path: Path):
    """The ``torch.export.ExportedProgram`` saved in ``path`` (HwgenError otherwise)."""
    if not path.is_file():
        raise HwgenError(f"{path}: no such file")
    hint = "save one with torch.export.save(torch.export.export(model.eval(), (example,)), 'model.pt2')"
    if not zipfile.is_zipfile(path):
        raise HwgenError(f"{path}: not a torch.export program (not a .pt2 archive); {hint}")
    import torch

    try:
        with _quiet("torch.export", "torch._export"):
            return torch.export.load(path)
    except Exception as err:
        detail = (str(err) or type(err).__name__).splitlines()[0].strip()
        if "warnings above" in detail:  # torch points at the log lines silenced above
            detail = "it cannot be deserialized"
        raise HwgenError(f"{path}: not a torch.export program ({detail}); {hint}") from None


def load_calibration(path: Path) -> np.ndarray:
    """Calibration images as floats in [0, 1]: float arrays as they are, uint8 / 255."""
    x = load_inputs(path)
    if x.dtype == np.uint8:
        return x.astype(np.float64) / 255
    if x.dtype.kind != "f":
        raise HwgenError(f"{path}: calibration images must be floats in [0, 1] or uint8, got {x.dtype}")
    if x.size and not np.isfinite(x).all():
        raise HwgenError(f"{path}: calibration images contain NaN or infinity")
    return x


def _numbers(option: str, text: Optional[str], kind):
    """``"4"`` -> 4, ``"1,2,4"`` -> [1, 2, 4] (None stays None)."""
    if text is None:
        return None
    try:
        values = [kind(part) for part in text.split(",")]
    except ValueError:
        raise HwgenError(f"option {option}: expected {kind.__name__} or a comma-separated list, got {text!r}") \
            from None
    return values[0] if len(values) == 1 else values


def summary(conversion, output: Path):
    """A rich table: one row per layer with its activation, λ, Γ, θ, v_init and width."""
    from rich.table import Table

    network, meta = conversion.network, conversion.network.meta.get("layers", {})
    table = Table(title=f"{output}: hwgen-snn/1, T={network.timesteps}, input {list(network.input.shape)} "
                        f"({network.input.bits}-bit)")
    for column in ("layer", "op", "output", "activation", "λ", "Γ", "θ", "v_init", "width"):
        table.add_column(column)
    for layer, shape in zip(network.layers, network.shapes[1:]):
        n, info = layer.neuron, meta.get(layer.name, {})
        act = info.get("activation", "-") + (f" L={info['levels']}" if info.get("levels") else "")
        width = (f"v{n.v_bits}" if n else f"acc{layer.acc_bits}") if layer.has_weights else "-"
        table.add_row(layer.name, layer.op.value, "x".join(map(str, shape)), act if n else "-",
                      f"{info['lambda']:.4g}" if n else "-",
                      *(map(str, (n.burst, n.threshold, n.v_init)) if n else ("-",) * 3), width)
    return table


@app.command()
def convert(model: Path = typer.Argument(..., help="torch.export program (.pt2)"),
            calib: Path = typer.Option(..., "--calib", help=CALIB_HELP),
            output: Path = typer.Option(..., "--output", "-o", help="network folder to write"),
            timesteps: int = typer.Option(8, "--timesteps", "-T", help="timesteps T"),
            weight_bits: int = typer.Option(8, help="signed weight width (2..16)"),
            input_bits: int = typer.Option(8, help="unsigned input pixel width (1..16)"),
            burst: str = typer.Option("1", help="burst cap Γ: one integer, or one per spiking layer (1,2,4)"),
            v_init: str = typer.Option("half", help="initial membrane: half (θ//2) or zero"),
            norm: str = typer.Option("percentile", help="ReLU thresholds from data: max or percentile"),
            percentile: float = typer.Option(99.99, help="p for --norm percentile, in (0, 100]"),
            input_mean: Optional[str] = typer.Option(None, help="input mean the model expects (x or c1,c2,c3)"),
            input_std: Optional[str] = typer.Option(None, help="input std the model expects (x or c1,c2,c3)"),
            bias_calibration: str = typer.Option(
                "none", help="fit per-channel bias offsets on --calib so the T-step firing rates match the ANN: "
                             "none, mean (Li et al. 2021) or mse (least squares; best at low T, burst 1)")):
    """Convert a torch.export model to an integer SNN network folder and print a summary.

    MODEL is what torch.export.save(torch.export.export(model.eval(), (example,)), "model.pt2") writes,
    for a model that sees inputs in [0, 1].
    """
    options = dict(timesteps=timesteps, weight_bits=weight_bits, input_bits=input_bits,
                   burst=_numbers("--burst", burst, int), v_init=v_init, norm=norm, percentile=percentile,
                   input_mean=_numbers("--input-mean", input_mean, float),
                   input_std=_numbers("--input-std", input_std, float), bias_calibration=bias_calibration)
    if output.exists() and not output.is_dir():
        raise HwgenError(f"{output}: exists and is not a folder")
    program = load_program(model)
    x = load_calibration(calib)
    from .convert.api import convert_detailed

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        conversion = convert_detailed(program, x, **options)
    for warning in caught:
        typer.echo(f"hwgen: warning: {str(warning.message).splitlines()[0]}", err=True)
    conversion.save(output)
    from rich.console import Console

    Console().print(summary(conversion, output))
