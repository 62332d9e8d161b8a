"""Accuracy benchmark: Fashion-MNIST, the demo CNN, QCFS and a ReLU twin.

Trains (or loads from the cache) the QCFS CNN and its ReLU twin, converts
them, and measures float ANN / quantised ANN / float SNN / integer SNN
accuracy on the 10 000 test images for T in {1,2,4,8,16,32} and burst caps
Γ in {1, 2, L}; the ReLU twin with max and 99.99th-percentile normalisation.
The QCFS net is also converted with SNN bias calibration (``--bias-calibration``,
default ``mse``; one conversion per T in {1, 2, 4, 8} and Γ). Also the golden
model's images/s at T=4. Writes ``benchmarks/results/accuracy.{json,md,png}``.

Run: ``make bench`` or ``.venv/bin/python benchmarks/accuracy.py [--quick]``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from hwgen import accuracy
from hwgen.convert.api import convert_detailed
from hwgen.data import load_split
from hwgen.train import Activation, TrainConfig, trained_model

RESULTS = Path(__file__).parent / "results"


CALIBRATED_T = (1, 2, 4, 8)


def _models(train_split, log, activations, bias_calibration="none"):
    """(name, model, sweep config, train seconds) for each measured model."""
    out = []
    for activation in activations:
        config = TrainConfig(activation=activation)
        trained = trained_model(config, train_split,
                                lambda e, loss: log(f"  {activation.value} epoch {e + 1}: loss {loss:.4f}"))
        log(f"{activation.value}: {'cached' if trained.cached else f'trained in {trained.seconds:.0f} s'}")
        bursts = (1, 2, config.levels)
        if activation is Activation.QCFS:
            out.append(("qcfs", trained.model,
                        accuracy.SweepConfig(bursts=bursts, levels=config.levels, bias_calibration=bias_calibration,
                                             calibrated_timesteps=CALIBRATED_T),
                        trained.seconds))
        else:
            for norm in ("max", "percentile"):
                out.append((f"relu-{norm}", trained.model,
                            accuracy.SweepConfig(bursts=bursts, levels=config.levels, norm=norm),
                            trained.seconds))
    return out


def _markdown(rows, sweeps, speed, meta) -> str:
    lines = [f"# Accuracy benchmark ({meta['test_images']} Fashion-MNIST test images)", "",
             f"Command: `{meta['command']}`. Machine: {meta['machine']}.", ""]
    for name, config in sweeps.items():
        header, body = accuracy.table(rows, name, config)
        lines += [f"## {name} (norm: {config.norm}, L={config.levels})", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body] + [""]
        if config.bias_calibration != "none":
            lines += [f"*bias cal.*: converted with `bias_calibration=\"{config.bias_calibration}\"` "
                      "(hwgen.convert.biascal) on the 1000 calibration images, one network per T and Γ "
                      "(calibrated for that T); blank: not measured.", ""]
    lines += [f"Golden model, {next(iter(sweeps))} net (Γ=1), T=4: **{speed:.0f} images/s** "
              f"({meta['threads']} threads)."]
    return "\n".join(lines) + "\n"


def _plot(rows, sweeps, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sweeps), figsize=(5 * len(sweeps), 4), sharey=True)
    for ax, (name, config) in zip(np.atleast_1d(axes), sweeps.items()):
        mine = [r for r in rows if r.model == name]
        ann = next(r.accuracy for r in mine if r.stage == "float ANN")
        ax.axhline(100 * ann, color="k", ls="--", label="float ANN")
        styles = {"integer SNN": "-o", "float SNN": ":x", "integer SNN, bias cal.": "-s"}
        for burst in config.bursts:
            for stage in (s for s in config.stages if s in styles):
                style = styles[stage]
                pts = sorted((r.timesteps, r.accuracy) for r in mine if r.stage == stage and r.burst == burst)
                if pts:
                    ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], style, label=f"{stage} Γ={burst}")
        ax.set_xscale("log", base=2)
        ax.set_title(f"{name}")
        ax.set_xlabel("timesteps T")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("test accuracy (%)")
    np.atleast_1d(axes)[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1000 test images, no float SNN")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--activation", choices=["qcfs", "relu", "all"], default="all",
                        help="measure one model family (results file accuracy-<family>)")
    parser.add_argument("--bias-calibration", choices=["none", "mean", "mse"], default="mse",
                        help="also measure the QCFS net converted with this SNN bias calibration "
                             "(T in 1, 2, 4, 8; none: skip)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    train_split, test = load_split("train"), load_split("test")
    test = test.head(1000 if args.quick else None)
    calibration = train_split.images[:1000]
    rows, sweeps, train_seconds = [], {}, {}
    families = list(Activation) if args.activation == "all" else [Activation(args.activation)]
    models = _models(train_split, log, families, args.bias_calibration)
    for name, model, config, seconds in models:
        if args.quick:
            config = dataclasses.replace(config, float_snn=False)
        sweeps[name] = config
        train_seconds[name] = seconds
        started = time.perf_counter()
        rows += accuracy.sweep(name, model, calibration, test, config, progress=log)
        log(f"{name}: swept in {time.perf_counter() - started:.0f} s")
    first_model = models[0][1]
    network = convert_detailed(first_model, calibration, timesteps=4).network
    speed = accuracy.throughput(network, test.images)
    command = "python benchmarks/accuracy.py" + (" --quick" if args.quick else "") + \
        ("" if args.activation == "all" else f" --activation {args.activation}") + \
        ("" if args.bias_calibration == "mse" else f" --bias-calibration {args.bias_calibration}")
    meta = {"command": command,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
            "threads": args.threads, "test_images": len(test), "train_seconds": train_seconds,
            "golden_images_per_s_T4": speed}
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / ("accuracy" + ("-quick" if args.quick else "")
                      + ("" if args.activation == "all" else f"-{args.activation}"))
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=1))
    stem.with_suffix(".md").write_text(_markdown(rows, sweeps, speed, meta))
    _plot(rows, sweeps, stem.with_suffix(".png"))
    log(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
