"""Generate the accelerator's Verilog and its parameter JSON.

:func:`generate` builds the :class:`~hwgen.hwplan.Plan` of a network and an
:class:`~hwgen.hwconfig.AccelConfig`, elaborates :class:`hwgen.rtl.top.Accelerator`
and writes, atomically and byte-identically from run to run:

``hwgen_accel.v``
    Synthesizable Verilog from Amaranth's backend (top module ``hwgen_accel``).
``hwgen_accel.json``
    The configuration, word widths, memory sizes, pass schedule and ports.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .errors import HwgenError
from .hwconfig import AccelConfig
from .hwplan import Plan, build_plan
from .network import Network

TOP = "hwgen_accel"
UART_TOP = "hwgen_uart"
#: Port names of the generated top (Amaranth flattens the streams).
PORTS = {
    "clk": "clk", "rst": "rst", "start": "start", "busy": "busy", "done": "done", "cycles": "cycles",
    "pixel_data": "pixels__payload", "pixel_valid": "pixels__valid", "pixel_ready": "pixels__ready",
    "logit_data": "logits__payload", "logit_valid": "logits__valid", "logit_ready": "logits__ready",
}


#: Port names of the UART top (``hwgen generate --uart-clock-mhz``): what a vendor flow constrains.
UART_PORTS = {"clk": "clk", "rst": "rst", "uart_rx": "rx", "uart_tx": "tx", "busy": "busy"}


def verilog(plan: Plan) -> str:
    """The Verilog text of the accelerator for ``plan``."""
    from amaranth.back import verilog as backend

    from .rtl.top import Accelerator

    return backend.convert(Accelerator(plan), name=TOP, emit_src=False)


def uart_verilog(plan: Plan, clock_hz: float, baud: int) -> str:
    """The Verilog of the accelerator behind a UART (:mod:`hwgen.rtl.uart_top`), for vendor flows."""
    from amaranth.back import verilog as backend

    from .rtl.uart import divisor_for
    from .rtl.uart_top import UartAccelerator

    try:
        divisor = divisor_for(clock_hz, baud)
    except ValueError as err:
        raise HwgenError(str(err)) from None
    return backend.convert(UartAccelerator(plan, divisor), name=UART_TOP, emit_src=False)


def parameters(plan: Plan) -> dict:
    """The JSON document describing the generated design."""
    doc = {"format": "hwgen-accel/1", "top": TOP, "ports": PORTS}
    doc.update(plan.to_json())
    return doc


def generate(network: Network, out_dir: str | os.PathLike, config: AccelConfig, *,
             uart: tuple[float, int] | None = None) -> dict[str, Path]:
    """Write ``hwgen_accel.v`` and ``hwgen_accel.json`` into ``out_dir``.

    With ``uart = (clock_hz, baud)``, also ``hwgen_uart.v``: the accelerator
    behind the board protocol of :mod:`hwgen.wire` (ports :data:`UART_PORTS`).
    Returns the paths written. Raises :class:`~hwgen.errors.HwgenError` if
    ``out_dir`` exists and is not a folder.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise HwgenError(f"{out_dir}: exists and is not a folder")
    plan = build_plan(network, config)
    doc = parameters(plan)
    files = {f"{TOP}.v": verilog(plan)}
    if uart is not None:
        files[f"{UART_TOP}.v"] = uart_verilog(plan, *uart)
        doc["uart_top"] = {"top": UART_TOP, "ports": UART_PORTS, "clock_hz": uart[0], "baud": uart[1]}
    files[f"{TOP}.json"] = json.dumps(doc, indent=1) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".hwgen-", dir=out_dir))
    written = {}
    try:
        for name, text in files.items():
            (staging / name).write_text(text)
            os.replace(staging / name, out_dir / name)
            written[name] = out_dir / name
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written
