"""The UART board top in cocotb on Icarus: bytes in on ``rx``, bytes out on ``tx``, checked exactly."""
import json
import os
import shutil
import sys

import numpy as np
import pytest
from amaranth.back import verilog

from hwgen.hwconfig import AccelConfig
from hwgen.hwplan import build_plan
from hwgen.hwverify import icarus_source
from hwgen.rtl.uart_top import UartAccelerator
from hwgen.sim import golden
from hwgen.sim.bench.nets import demo_like, images
from hwgen.sim.cycles import inference_cycles

DIVISOR = 4


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")
def test_uart_top_on_icarus(tmp_path):
    from cocotb_tools.runner import get_runner

    net = demo_like(5, size=4, channels=(1, 2), hidden=4, classes=3, timesteps=2, burst=2)
    config = AccelConfig(2, "event")
    top = UartAccelerator(build_plan(net, config), DIVISOR)
    source = tmp_path / "hwgen_uart.v"
    source.write_text(icarus_source(verilog.convert(top, name="hwgen_uart", emit_src=False)))
    x = images(5, 3, size=4)
    w = top.wire
    np.savez(tmp_path / "in.npz", images=x.reshape(len(x), -1), logits=golden.run(net, x).logits,
             cycles=inference_cycles(net, config, x), divisor=DIVISOR,
             wire=[w.pixels, w.pixel_bytes, w.classes, w.logit_bytes])
    runner = get_runner("icarus")
    runner.build(sources=[source], hdl_toplevel="hwgen_uart", build_dir=tmp_path / "sim",
                 timescale=("1ns", "1ps"), always=True, log_file=tmp_path / "build.log")
    env = {"HWGEN_BENCH_IN": str(tmp_path / "in.npz"), "HWGEN_BENCH_OUT": str(tmp_path / "out.json"),
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        runner.test(test_module="hwgen.sim.bench.cocotb_uart", hdl_toplevel="hwgen_uart",
                    build_dir=tmp_path / "sim", test_dir=tmp_path, extra_env=env, timescale=("1ns", "1ps"),
                    log_file=tmp_path / "test.log")
    except SystemExit:
        pass
    assert (tmp_path / "out.json").is_file(), (tmp_path / "test.log").read_text()[-2000:]
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["problems"] == []
    assert len(result["replies"]) == len(x)
