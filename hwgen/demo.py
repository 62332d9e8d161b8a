"""The built-in demo: Fashion-MNIST, the small QCFS CNN, end to end.

Steps: load the data, train the demo model (or load it from the cache),
convert it to an integer SNN, save the network folder, run the golden model
and the float references on the test set, and return the accuracy rows.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import accuracy
from .convert.api import convert_detailed
from .data import load_split
from .train import TrainConfig, trained_model


@dataclass(frozen=True)
class DemoConfig:
    """Options of ``hwgen demo``."""

    out: Path = Path("out/demo")
    data: Path | None = None
    timesteps: int = 4
    burst: int = 1
    test_images: int | None = None
    bias_calibration: str = "none"
    sweep: tuple[int, ...] = (1, 2, 4, 8, 16)
    threads: int = 2


def _train(config: DemoConfig, console: Console, train_split):
    train_config = TrainConfig()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[loss]}"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("training the demo CNN (QCFS)", total=train_config.epochs, loss="")
        trained = trained_model(train_config, train_split,
                                lambda epoch, loss: bar.update(task, advance=1, loss=f"loss {loss:.3f}"))
    how = "cached" if trained.cached else f"trained in {trained.seconds:.0f} s"
    console.print(f"model: {how} ({trained.path})")
    return trained.model, train_config


def run_demo(config: DemoConfig = DemoConfig(), console: Console | None = None) -> dict:
    """Run the demo; write ``out/network``, ``out/accuracy.json``; return the summary."""
    console = console or Console()
    torch.set_num_threads(config.threads)
    train_split, test = load_split("train", config.data), load_split("test", config.data)
    test = test.head(config.test_images)
    model, train_config = _train(config, console, train_split)
    calibration = train_split.images[:1000]
    conversion = convert_detailed(model, calibration, timesteps=config.timesteps, burst=config.burst,
                                  bias_calibration=config.bias_calibration)
    net_dir = config.out / "network"
    conversion.save(net_dir)
    np.save(config.out / "test_images.npy", test.images[:500])
    np.save(config.out / "test_labels.npy", test.labels[:500])
    calibrated = "" if config.bias_calibration == "none" else f", bias calibration {config.bias_calibration}"
    console.print(f"network: {net_dir} (T={config.timesteps}, burst {config.burst}{calibrated})")
    sweep_config = accuracy.SweepConfig(timesteps=tuple(sorted(set(config.sweep) | {config.timesteps})),
                                        bursts=(config.burst,), levels=train_config.levels,
                                        bias_calibration=config.bias_calibration,
                                        calibrated_timesteps=(config.timesteps,))
    with console.status("simulating: golden model and float references on the test set") as status:
        rows = accuracy.sweep("qcfs", model, calibration, test, sweep_config,
                              progress=lambda stage: status.update(f"simulating: {stage}"))
    header, lines = accuracy.table(rows, "qcfs", sweep_config)
    table = Table(title=f"Fashion-MNIST test accuracy (%), {len(test)} images", *header)
    for line in lines:
        table.add_row(*line)
    console.print(table)
    summary = {"network": str(net_dir), "images": len(test), "rows": [asdict(r) for r in rows]}
    (config.out / "accuracy.json").write_text(json.dumps(summary, indent=2))
    return summary
