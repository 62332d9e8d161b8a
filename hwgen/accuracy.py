"""Accuracy of one trained model through every stage of conversion.

For a model and a test split this measures, in one table:

- **float ANN**: the torch model itself;
- **quantised ANN**: the integer network converted with ``Γ = L`` run as an
  ANN (:func:`hwgen.reference.quantised_ann`: integer weights, activations
  quantised to L levels, no time) — the best a T-step SNN can reach;
- **float SNN**: the normalised float network (before weight quantisation)
  run as an IF/burst SNN (:func:`hwgen.reference.snn_logits`) — conversion
  error alone;
- **integer SNN**: the bit-exact golden model — conversion plus quantisation.

SNN rows are measured for every ``T`` in ``timesteps`` and every burst cap
``Γ`` in ``bursts``. The golden model runs once at ``max(timesteps)`` and
reads the logits after each step (:attr:`GoldenResult.step_logits`), which
equal the logits of a run with that many steps.

With ``bias_calibration`` (:mod:`hwgen.convert.biascal`) two more stages,
*float SNN, bias cal.* and *integer SNN, bias cal.*, are measured: a
calibrated network is fitted for its own ``T``, so each ``T`` in
``calibrated_timesteps`` gets its own conversion and golden-model run.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .convert.api import convert_detailed
from .data import Split
from .reference import quantised_ann, snn_logits
from .sim import golden
from .train import evaluate


@dataclass(frozen=True)
class Row:
    """One accuracy figure.

    ``timesteps`` and ``burst`` are None where they do not apply (ANN rows).
    ``saturations`` counts saturation events of the integer SNN (0 expected).
    """

    model: str
    stage: str
    accuracy: float
    timesteps: int | None = None
    burst: int | None = None
    saturations: int | None = None


CALIBRATED = "bias cal."


@dataclass(frozen=True)
class SweepConfig:
    """What to measure: ``T`` values, burst caps, conversion options.

    ``bias_calibration`` (``"none"``, ``"mean"`` or ``"mse"``) adds the
    bias-calibrated stages for ``calibrated_timesteps`` (None: all ``T``).
    """

    timesteps: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    bursts: tuple[int, ...] = (1, 2, 4)
    levels: int = 4
    norm: str = "percentile"
    percentile: float = 99.99
    calibration_images: int = 1000
    float_snn: bool = True
    bias_calibration: str = "none"
    calibrated_timesteps: tuple[int, ...] | None = None

    @property
    def stages(self) -> tuple[str, ...]:
        """The SNN stages this sweep measures, in table order."""
        base = ("float SNN", "integer SNN")
        return base if self.bias_calibration == "none" else base + tuple(f"{s}, {CALIBRATED}" for s in base)


def _accuracy(prediction, labels) -> float:
    return float(np.mean(np.asarray(prediction) == labels)) if len(labels) else 0.0


def sweep(name: str, model: torch.nn.Module, calibration: np.ndarray, test: Split,
          config: SweepConfig = SweepConfig(),
          progress: Callable[[str], None] | None = None) -> list[Row]:
    """All accuracy rows for one trained ``model`` (see the module docstring)."""
    say = progress or (lambda _: None)
    rows = [Row(name, "float ANN", evaluate(model, test))]
    longest = max(config.timesteps)
    options = dict(norm=config.norm, percentile=config.percentile)
    quantised = convert_detailed(model, calibration, timesteps=1, burst=config.levels, **options)
    rows.append(Row(name, "quantised ANN", _accuracy(quantised_ann(quantised.network, test.images)[1],
                                                     test.labels), burst=config.levels))
    for burst in config.bursts:
        say(f"{name}: converting with burst {burst}")
        conversion = convert_detailed(model, calibration, timesteps=longest, burst=burst, **options)
        say(f"{name}: golden model, T={longest}, burst {burst}")
        result = golden.run(conversion.network, test.images)
        saturated = int(sum(v.sum() for v in result.saturations.values()))
        for steps in config.timesteps:
            prediction = result.step_logits[:, steps - 1].argmax(axis=1)
            rows.append(Row(name, "integer SNN", _accuracy(prediction, test.labels), steps, burst,
                            saturated))
            if config.float_snn:
                logits = snn_logits(conversion.float_snn, test.images, timesteps=steps)
                rows.append(Row(name, "float SNN", _accuracy(logits.argmax(axis=1), test.labels),
                                steps, burst))
    if config.bias_calibration != "none":
        rows += _calibrated(name, model, calibration, test, config, options, say)
    return rows


def _calibrated(name, model, calibration, test: Split, config: SweepConfig, options, say) -> list[Row]:
    """Rows of bias-calibrated networks: one conversion per ``(Γ, T)``."""
    rows = []
    for burst in config.bursts:
        for steps in config.calibrated_timesteps or config.timesteps:
            say(f"{name}: bias calibration ({config.bias_calibration}), T={steps}, burst {burst}")
            conversion = convert_detailed(model, calibration, timesteps=steps, burst=burst,
                                          bias_calibration=config.bias_calibration, **options)
            result = golden.run(conversion.network, test.images)
            saturated = int(sum(v.sum() for v in result.saturations.values()))
            rows.append(Row(name, f"integer SNN, {CALIBRATED}", _accuracy(result.prediction, test.labels),
                            steps, burst, saturated))
            if config.float_snn:
                logits = snn_logits(conversion.float_snn, test.images)
                rows.append(Row(name, f"float SNN, {CALIBRATED}", _accuracy(logits.argmax(axis=1), test.labels),
                                steps, burst))
    return rows


def throughput(network, images: np.ndarray, timesteps: int = 4, repeats: int = 3) -> float:
    """Golden-model images per second at ``timesteps`` (best of ``repeats``)."""
    network = dataclasses.replace(network, timesteps=timesteps)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        golden.run(network, images)
        best = min(best, time.perf_counter() - started)
    return len(images) / best


def table(rows: Sequence[Row], model: str, config: SweepConfig) -> tuple[list[str], list[list[str]]]:
    """A header and rows of text: one line per (stage, Γ), one column per T."""
    header = ["stage", "Γ", "ANN"] + [f"T={t}" for t in config.timesteps]
    mine = [r for r in rows if r.model == model]
    blank = [""] * len(config.timesteps)
    lines = [[r.stage, "-" if r.burst is None else str(r.burst), f"{100 * r.accuracy:.2f}"] + blank
             for r in mine if r.timesteps is None]
    for stage in config.stages:
        for burst in config.bursts:
            cells = {r.timesteps: r.accuracy for r in mine if r.stage == stage and r.burst == burst}
            if cells:
                lines.append([stage, str(burst), ""] + [f"{100 * cells[t]:.2f}" if t in cells else ""
                                                        for t in config.timesteps])
    return header, lines
