"""Latency anchor: a 784-128-10 Fashion-MNIST MLP (QCFS, L=4, T=4) on a board.

Trains the MLP (a few epochs, cached in ``--out``), converts it, measures the
integer SNN's test accuracy with the golden model, then runs ``hwgen build``
for the board and lane count and writes ``benchmarks/results/mlp_latency.{json,md}``.
Published anchors for MNIST-size MLPs: Spiker+ 780 us, snn-fpga 520 us
(100 MHz, Artix-7).

    .venv/bin/python benchmarks/mlp_latency.py --board ulx3s-25f --lanes 16
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwgen.boards import load_board
from hwgen.build import build
from hwgen.convert.api import convert
from hwgen.data import load_split, to_float
from hwgen.fit import fit_multipliers, fit_weights
from hwgen.hwconfig import AccelConfig
from hwgen.netfile import load
from hwgen.nn import QCFS
from hwgen.sim import golden

RESULTS = Path(__file__).parent / "results"


def mlp(hidden: int = 128, levels: int = 4) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, hidden, bias=False), nn.BatchNorm1d(hidden),
                         QCFS(levels=levels, init_lambda=4.0), nn.Linear(hidden, 10))


def train(model: nn.Module, split, epochs: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    x, y = torch.from_numpy(to_float(split.images)), torch.from_numpy(split.labels)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    steps = -(-len(x) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, epochs=epochs, steps_per_epoch=steps)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x))
        for start in range(0, len(x), 128):
            idx = order[start:start + 128]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="ulx3s-25f")
    ap.add_argument("--lanes", type=int, default=16)
    ap.add_argument("--mode", default="dense")
    ap.add_argument("--weights", default="auto", choices=["auto", "rom", "loaded"],
                    help="auto: the loaded SPRAM bank on iCE40 when the weight ROMs overflow block RAM")
    ap.add_argument("--multipliers", default="auto", choices=["auto", "fabric", "dsp"],
                    help="lane products in logic or DSP blocks (auto: hwgen build's choice)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("out/mlp"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    train_split, test = load_split("train"), load_split("test")
    net_dir = args.out / "network"
    if not (net_dir / "network.json").is_file():
        model = train(mlp(), train_split, args.epochs)
        convert(model, train_split.images[:1000], timesteps=4).save(net_dir)
    network = load(net_dir)
    accuracy = float((golden.run(network, test.images).prediction == test.labels).mean())
    started = time.monotonic()
    board = load_board(args.board)
    config = AccelConfig(args.lanes, args.mode, weights="rom" if args.weights == "auto" else args.weights)
    config = fit_weights(network, board, config) if args.weights == "auto" else config
    config = fit_multipliers(network, board, config) if args.multipliers == "auto" else \
        dataclasses.replace(config, multipliers=args.multipliers)
    report = build(network, board, config, args.out / args.board, inputs=test.images[:100])
    doc = {"network": "784-128-10 QCFS MLP, T=4, Γ=1", "integer_snn_accuracy": accuracy,
           "build_seconds": round(time.monotonic() - started), **report.to_json()}
    write_results(doc)


def write_results(doc: dict) -> None:
    """Keep one row per (board, lanes, mode) in ``mlp_latency.json`` and rewrite the Markdown."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "mlp_latency.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    rows = old.get("rows", [old] if old else [])
    def key(row: dict) -> tuple:                # rows from before --weights are "rom"
        return (row.get("board"), row.get("lanes"), row.get("mode"), row.get("weights") or "rom",
                row.get("multipliers", "fabric"))

    rows = [r for r in rows if key(r) != key(doc)] + [doc]
    path.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    lines = ["# 784-128-10 MLP on a board", "",
             "`.venv/bin/python benchmarks/mlp_latency.py --board BOARD --lanes P [--weights W] [--multipliers M]` "
             "(one row each)", "",
             "| board | P | mode | weights | multipliers | int SNN acc % | LUT | FF | BRAM | SPRAM | DSP | Fmax MHz | cycles "
             "| latency us | images/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        res = r["resources"]
        lines.append(f"| {r['board']} | {r['lanes']} | {r['mode']} | {r.get('weights', 'rom')} | {r.get('multipliers', 'fabric')} | "
                     f"{100 * r['integer_snn_accuracy']:.2f} | {res['lut']['used']} | {res['ff']['used']} | "
                     f"{res['bram']['used']} | {res.get('spram', {}).get('used', '-')} | {res['dsp']['used']} | "
                     f"{r['fmax_mhz']} | {r['cycles']} | {r['latency_us']} | {r['images_per_s']} |")
    (RESULTS / "mlp_latency.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
