"""Golden-model speed: images/s at T=4 on the 10 000 Fashion-MNIST test images.

Run ``hwgen demo`` first (it writes ``out/demo/network``), then
``.venv/bin/python benchmarks/golden_speed.py [NET_DIR]``. Appends a line to
``benchmarks/results/golden_speed.md``.
"""
import datetime
import os
import sys
from pathlib import Path

from hwgen import accuracy
from hwgen.data import load_split
from hwgen.netfile import load

net_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "out/demo/network")
speed = accuracy.throughput(load(net_dir), load_split("test").images, timesteps=4)
load1 = os.getloadavg()[0]
line = (f"| {datetime.date.today()} | {net_dir} | {speed:.0f} | {os.cpu_count()} | {load1:.2f} |")
results = Path(__file__).parent / "results" / "golden_speed.md"
if not results.exists():
    results.write_text("# Golden model speed, T=4, 10 000 images (best of 3)\n\n"
                       "| date | network | images/s | cores | load before |\n|---|---|---|---|---|\n")
with results.open("a") as f:
    f.write(line + "\n")
print(line)
