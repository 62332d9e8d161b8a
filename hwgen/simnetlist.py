"""A faster Icarus netlist of the accelerator: same design, fewer simulator events.

Icarus spends most of its time on the generated Verilog's *threads*: every
``always @*`` block (Yosys's ``proc -nomux`` output, one per signal with a
reset or a ``case``) and every one-register ``always @(posedge clk)`` block is
a thread that is woken, loads its operands and stores its result. On the demo
net at P = 16 that is about 1 300 combinational and 1 000 clocked threads,
about 2 k cycles/s.

:func:`optimised_verilog` gives Icarus the same Amaranth design through a
different Yosys script, all in the Yosys that writes ``hwgen_accel.v``:
``proc`` with muxes (continuous assignments instead of ``always @*``),
``flatten``, ``opt -full``, ``wreduce``, ``opt_clean -purge``; then
:func:`merge_clocked` gathers each module's clocked blocks into one
``always`` per clock. Nothing changes the design's function or its cycles
(Yosys's optimisations preserve every register and output; merging
non-blocking assignments keeps their source order); the cocotb bench still
checks every logit and every cycle exactly. ``hwgen verify --icarus-verilog``
simulates the emitted ``hwgen_accel.v`` itself instead.
"""
from __future__ import annotations

import re

#: Yosys passes after ``read_rtlil`` (the builtin Yosys has no ``pmuxtree``).
OPT_SCRIPT = ("proc -norom", "flatten", "opt -full", "wreduce", "opt -full", "opt_clean -purge",
              "memory_collect")

_CLOCKED = re.compile(r"^  always @\(posedge (\S+)\)( begin)?$")


def optimised_verilog(plan, name: str) -> str:
    """Verilog of :class:`hwgen.rtl.top.Accelerator` for ``plan``, optimised for Icarus.

    Parameters
    ----------
    plan : hwgen.hwplan.Plan
        The accelerator's static plan.
    name : str
        The top module's name (the emitted Verilog's, so the bench is the same).

    Returns
    -------
    str
        One flat module ``name`` with the same ports, no ``always @*`` and one
        clocked ``always`` block.
    """
    from amaranth._toolchain.yosys import find_yosys
    from amaranth.back import rtlil

    from .rtl.top import Accelerator

    text = rtlil.convert(Accelerator(plan), name=name, emit_src=False)
    yosys = find_yosys(lambda version: version >= (0, 40))
    script = [f"read_rtlil <<rtlil\n{text}\nrtlil", *OPT_SCRIPT, "write_verilog -noattr"]
    return merge_clocked(yosys.run(["-q", "-"], "\n".join(script), ignore_warnings=True))


def merge_clocked(text: str) -> str:
    """Gather each module's ``always @(posedge clk)`` blocks into one per clock.

    Parameters
    ----------
    text : str
        Verilog as Yosys's ``write_verilog`` writes it: a clocked block is
        ``  always @(posedge CLK)`` and one statement indented by four or more
        spaces, or ``  always @(posedge CLK) begin`` … ``  end``.

    Returns
    -------
    str
        The same Verilog with each module's clocked statements, in source
        order, in one block per clock placed just before ``endmodule``. Their
        assignments are non-blocking, so the order of the blocks does not
        matter, and a target assigned twice keeps its last assignment.
    """
    lines, out, bodies, i = text.split("\n"), [], {}, 0
    while i < len(lines):
        match = _CLOCKED.match(lines[i])
        if match:
            body = bodies.setdefault(match.group(1), [])
            i += 1
            if match.group(2):
                while lines[i] != "  end":
                    body.append("  " + lines[i])
                    i += 1
                i += 1
            else:
                while lines[i].startswith("    "):
                    body.append("  " + lines[i])
                    i += 1
            continue
        if lines[i].startswith("endmodule"):
            for clock, body in bodies.items():
                out += [f"  always @(posedge {clock}) begin", *body, "  end"]
            bodies = {}
        out.append(lines[i])
        i += 1
    return "\n".join(out)


_PORT = re.compile(r"^  (input|output)( \[\d+:\d+\])? (\w+);$", re.M)


def clock_wrapper(text: str, top: str, period_ns: int, clock: str = "clk") -> str:
    """A top module ``{top}_sim`` that drives ``clock`` itself and holds ``top``.

    The clock toggles in the simulator (``always #(period/2)``), with no
    callback into cocotb; the wrapper's other signals carry the ports' names
    (inputs as ``reg``, outputs as ``wire``), so the bench drives and reads
    them as it would the bare module's ports.

    Parameters
    ----------
    text : str
        Verilog holding module ``top`` as Yosys writes it (one ``input`` or
        ``output`` declaration a line).
    top : str
        The module to wrap.
    period_ns : int
        Clock period in ns (even); the clock is 1 from time 0, as
        ``cocotb.clock.Clock(...).start()``, and falls at ``period_ns / 2``.
    clock : str
        The clock port.

    Returns
    -------
    str
        The wrapper module's Verilog (timescale from the build, ns).
    """
    if period_ns % 2:
        raise ValueError(f"the clock period must be even, got {period_ns}")
    start = text.index(f"module {top}(")
    body = text[start:text.index("endmodule", start)]
    ports = _PORT.findall(body)
    if clock not in {name for _, _, name in ports}:
        raise ValueError(f"module {top} has no port {clock!r}")
    lines = [f"module {top}_sim;", f"  reg {clock} = 1'b1;", f"  always #{period_ns // 2} {clock} = ~{clock};"]
    lines += [f"  {'reg' if kind == 'input' else 'wire'}{width} {name};"
              for kind, width, name in ports if name != clock]
    connections = ", ".join(f".{name}({name})" for _, _, name in ports)
    lines += [f"  {top} dut ({connections});", "endmodule", ""]
    return "\n".join(lines)
