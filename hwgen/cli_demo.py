"""``hwgen demo``: train (cached), convert, simulate, print the accuracy table."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .cli import app


@app.command()
def demo(out: Path = typer.Option(Path("out/demo"), "--out", "-o", help="output folder"),
         data: Optional[Path] = typer.Option(None, help="folder with the Fashion-MNIST IDX .gz files "
                                                         "(default: $HWGEN_FASHION_MNIST, then Debian's)"),
         timesteps: int = typer.Option(4, "--timesteps", "-T", min=1, help="timesteps of the saved network"),
         burst: int = typer.Option(1, min=1, help="burst cap Γ of every spiking layer"),
         test_images: Optional[int] = typer.Option(None, min=1, help="evaluate on the first N test images")):
    """Fashion-MNIST end to end: train the QCFS CNN (cached), convert, simulate, report."""
    from .demo import DemoConfig, run_demo

    run_demo(DemoConfig(out=out, data=data, timesteps=timesteps, burst=burst, test_images=test_images))
