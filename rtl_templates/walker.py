r"""The pass walker: the loop nest of :class:`hwgen.hwplan.Walk` in hardware.

Loop order (a *group* is one output position of one channel group, a
*pair* is one valid tap of a group)::

    for py < qh, px < qw, g < groups, dy < pkh, dx < pkw:     # a group
        for ky in valid rows, kx in valid cols:                # a pair (tap)

with :math:`o_y = p_y k^{pool}_h + d_y` and :math:`i_y^0 = o_y s_h - p_h`
the input row of tap 0; the valid rows are those with
:math:`0 \le i_y^0 + k_y < i_h`. A group without a valid tap, or of a
``flat`` walk, is one pair.

The walker has no multiplier and no wide comparator. It is a three-stage
pipeline that steps when the issuer takes a pair:

``G0`` (group counters)
    The five loop counters as down-counters with registered ``last`` flags,
    and every group quantity that is affine in them (``ix0``, ``iy0``, the
    buffer row base, the weight, bias, membrane and output addresses): each
    steps by a per-pass constant chosen by the loop level that advances.
``G1`` (group descriptor)
    From ``G0``: the valid tap window (clamps of ``ix0``, ``iy0`` at the
    borders), the first pair's buffer and weight addresses, the row steps.
``T`` (pair)
    The pair offered to the issuer: buffer position ``rpos`` and weight
    address ``wpair`` advance by 1 along a row and by the row step at a row
    change; at the group's last tap ``T`` loads ``G1`` and the group
    pipeline advances.

``fill`` takes two cycles after ``init`` (``G0`` → ``G1`` → ``T``), which
is why a pass has three ``BEGIN`` cycles (``docs/architecture.md``).
"""
from __future__ import annotations

import functools
import operator

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwgen.hwplan import Kind, Pass

from .walk_fields import LEVELS, SMALL, WIDE, affine, counts, deltas, field_range, first_level, geometry, one_hot


class Walker(wiring.Component):
    """The pipelined pass walker (see the module docstring).

    Parameters
    ----------
    passes : list of Pass
        Every pass, by index.
    bases : list of (int, int)
        Source and destination buffer word offsets of each pass.
    widths : dict
        Bits of ``rpos``, ``wpair``, ``naddr``, ``baddr``, ``oaddr``.

    Members
    -------
    pass_index : In
        The running pass (constant from ``init`` to the pass's end).
    pass_next : In
        The pass of the next ``init``, held from the cycle before it (the
        walker registers that pass's first group every cycle, so ``init``
        loads ``G0`` from registers).
    init : In(1)
        Load the first group of the pass into ``G0`` and the pass constants.
    fill : In(2)
        ``1``: advance ``G0`` → ``G1``; ``2``: also load ``T`` from ``G1``.
    take : In(1)
        The issuer takes the pair in ``T`` this cycle.
    rpos, wpair, null, first_tap, last_tap, final, naddr, baddr, oaddr, pool_first, pool_last : Out
        The pair in ``T`` (registers).
    next_rpos : Out
        ``rpos`` of the pair ``T`` holds in the next cycle.
    """

    def __init__(self, passes: list[Pass], bases: list[tuple[int, int]], widths: dict):
        self.passes, self.bases, self.widths = passes, bases, widths
        self.fields = [affine(q, *b) for q, b in zip(passes, bases)]
        span = [abs(v) for q, f in zip(passes, self.fields) for k in SMALL for v in field_range(q, f[k])]
        span += [max(geometry(q)[k] for k in ("kh", "kw", "ih", "iw")) for q in passes]
        self.sbits = max(span + [1]).bit_length() + 2
        self.nmax = max(max(counts(q)) for q in passes)
        super().__init__({
            "pass_index": In(range(len(passes) + 1)), "pass_next": In(range(len(passes) + 1)), "init": In(1), "fill": In(2), "take": In(1),
            "rpos": Out(widths["rpos"]), "wpair": Out(widths["wpair"]), "null": Out(1),
            "first_tap": Out(1), "last_tap": Out(1), "final": Out(1), "naddr": Out(widths["naddr"]),
            "baddr": Out(widths["baddr"]), "oaddr": Out(widths["oaddr"]), "pool_first": Out(1),
            "pool_last": Out(1), "next_rpos": Out(widths["rpos"]),
        })

    def _width(self, k: str) -> int:
        return {"rbx": "rpos", "extra": "rpos", "gb": "wpair", "wg": "wpair"}.get(k, k)

    def elaborate(self, platform):
        m, sb, nl = Module(), self.sbits, len(LEVELS)
        wd = {k: self.widths[self._width(k)] for k in WIDE}
        # Pass constants, registered at init.
        pc = dict(nm1=[Signal(range(self.nmax), name=f"nm1_{k}") for k in LEVELS],
                  n1=[Signal(name=f"n1_{k}") for k in LEVELS], n2=[Signal(name=f"n2_{k}") for k in LEVELS],
                  first=Signal(nl, name="first_level"), above=Signal(nl, name="above_first"),
                  kwm1=Signal(signed(sb)), khm1=Signal(signed(sb)), iwk=Signal(wd["rbx"]),
                  iwm1=Signal(signed(sb)), ihm1=Signal(signed(sb)), wboth=Signal(signed(sb)),
                  null=Signal(), iw1=Signal(), ih1=Signal(), kw1=Signal(), kh1=Signal())
        # G0.
        cnt = [Signal(range(self.nmax), name=f"c_{k}") for k in LEVELS]
        last = [Signal(name=f"last_{k}") for k in LEVELS]
        pen = [Signal(name=f"pen_{k}") for k in LEVELS]         # cnt == 1: last after the level's next step
        zero = [Signal(name=f"zero_{k}") for k in LEVELS]
        f0 = {k: Signal(signed(sb), name=f"g0_{k}") for k in SMALL}
        f0.update({k: Signal(wd[k], name=f"g0_{k}") for k in WIDE})
        # inner[L]: every level inside L is at its last value (level L steps), a register.
        inner = [Const(1)] + [Signal(name=f"inner_{k}") for k in LEVELS[1:]]
        last_next = [Signal(name=f"lastn_{k}") for k in LEVELS]
        m.d.comb += [last_next[L].eq(Mux(inner[L], Mux(last[L], pc["n1"][L], pen[L]), last[L]))
                     for L in range(nl)]
        inner_next = [functools.reduce(operator.and_, last_next[:L], 1) for L in range(nl)]
        pen_next = [Mux(inner[L], Mux(last[L], pc["n2"][L], cnt[L] == 2), pen[L]) for L in range(nl)]
        # G1.
        g1 = dict(pos=Signal(wd["rbx"]), w=Signal(wd["gb"]), rstep=Signal(wd["rbx"]), wstep=Signal(wd["gb"]),
                  ncols=Signal(signed(sb)), nrows=Signal(signed(sb)), ncols0=Signal(), nrows0=Signal(),
                  null=Signal(), single=Signal(), last_group=Signal(), pool_first=Signal(),
                  pool_last=Signal(), naddr=Signal(wd["naddr"]), baddr=Signal(wd["baddr"]),
                  oaddr=Signal(wd["oaddr"]))
        g1 = {k: Signal.like(v, name=f"g1_{k}") for k, v in g1.items()}
        xneg, yneg = f0["ix0"] < 0, f0["iy0"] < 0
        # Everything from G0's registers by the clipping case (left: xneg, right: xpos), no adder:
        # the window's width - 1 (kw - 1, ix0 + kw - 1, iw - ix0 - 1 = ~ixo, or iw - 1) and the
        # row steps of the buffer (iw minus it) and the weights (kw minus it). A window misses the
        # input when its last tap is left of it or its first right of it (ixr < 0 or ixo >= 0).
        xpos, ypos = f0["ixq"] >= 0, f0["iyq"] >= 0
        ncols, nrows = Signal(signed(sb)), Signal(signed(sb))
        m.d.comb += [ncols.eq(Mux(xneg, Mux(xpos, pc["iwm1"], f0["ixr"]), Mux(xpos, ~f0["ixo"], pc["kwm1"]))),
                     nrows.eq(Mux(yneg, Mux(ypos, pc["ihm1"], f0["iyr"]), Mux(ypos, ~f0["iyo"], pc["khm1"])))]
        rstep = Mux(xneg, Mux(xpos, 1, f0["rs2"]), Mux(xpos, f0["rs1"], pc["iwk"]))
        wstep = Mux(xneg, Mux(xpos, pc["wboth"], f0["ws2"]), Mux(xpos, f0["ws1"], 1))
        ncols0 = Mux(xneg, Mux(xpos, pc["iw1"], f0["ixr"] == 0), Mux(xpos, f0["ixo"] == -1, pc["kw1"]))
        nrows0 = Mux(yneg, Mux(ypos, pc["ih1"], f0["iyr"] == 0), Mux(ypos, f0["iyo"] == -1, pc["kh1"]))
        null = pc["null"] | (f0["ixr"] < 0) | (f0["ixo"] >= 0) | (f0["iyr"] < 0) | (f0["iyo"] >= 0)
        adv = (self.fill != 0) | (self.take & self.last_tap)
        gload = (self.fill == 2) | (self.take & self.last_tap)
        # init has priority over a step (they never meet): the step logic then only enables.
        nx = self._first_group(m, cnt, last, inner, f0)
        delta = self._steps(m, pc, f0, last_next, pen_next, nx, adv)
        with m.If(self.init):
            m.d.sync += [cnt[L].eq(nx["cnt"][L]) for L in range(nl)] + [z.eq(1) for z in zero]
            m.d.sync += [last[L].eq(nx["last"][L]) for L in range(nl)] + [p.eq(q) for p, q in zip(pen, nx["pen"])]
            m.d.sync += [inner[L].eq(nx["inner"][L]) for L in range(1, nl)]
            with m.Switch(self.pass_index):
                for i, q in enumerate(self.passes):
                    with m.Case(i):
                        geo, n = geometry(q), counts(q)
                        m.d.sync += [pc["kwm1"].eq(geo["kw"] - 1), pc["khm1"].eq(geo["kh"] - 1),
                                     pc["iwk"].eq(geo["iw"] - geo["kw"] + 1), pc["iwm1"].eq(geo["iw"] - 1),
                                     pc["ihm1"].eq(geo["ih"] - 1), pc["wboth"].eq(geo["kw"] - geo["iw"] + 1),
                                     pc["iw1"].eq(geo["iw"] == 1), pc["ih1"].eq(geo["ih"] == 1),
                                     pc["kw1"].eq(geo["kw"] == 1), pc["kh1"].eq(geo["kh"] == 1),
                                     pc["null"].eq(q.kind is Kind.CACHED)]
                        m.d.sync += [pc["nm1"][L].eq(n[L] - 1) for L in range(nl)]
                        m.d.sync += [pc["n1"][L].eq(n[L] == 1) for L in range(nl)]
                        m.d.sync += [pc["n2"][L].eq(n[L] == 2) for L in range(nl)]
                        first = first_level(n)
                        m.d.sync += [pc["first"].eq(one_hot(first)),
                                     pc["above"].eq(((1 << nl) - 1) & ~((2 << first) - 1))]
        with m.Elif(adv):
            m.d.sync += [
                g1["pos"].eq(Mux(yneg, f0["extra"], f0["rbx"]) + Mux(xneg, 0, f0["ix0"])),
                g1["w"].eq(Mux(yneg, f0["wg"], f0["gb"]) - Mux(xneg, f0["ix0"], 0)),
                g1["rstep"].eq(rstep), g1["wstep"].eq(wstep),
                g1["ncols"].eq(ncols), g1["nrows"].eq(nrows), g1["ncols0"].eq(ncols0),
                g1["nrows0"].eq(nrows0), g1["null"].eq(null),
                g1["single"].eq(null | (ncols0 & nrows0)),
                g1["last_group"].eq(inner[nl - 1] & last[nl - 1]),
                g1["pool_first"].eq(zero[0] & zero[1]), g1["pool_last"].eq(last[0] & last[1]),
                g1["naddr"].eq(f0["naddr"]), g1["baddr"].eq(f0["baddr"]), g1["oaddr"].eq(f0["oaddr"]),
            ]
            m.d.sync += [last[L].eq(last_next[L]) for L in range(nl)]
            m.d.sync += [inner[L].eq(inner_next[L]) for L in range(1, nl)]
            for L in range(nl):
                with m.If(inner[L]):
                    m.d.sync += [cnt[L].eq(Mux(last[L], pc["nm1"][L], cnt[L] - 1)), zero[L].eq(last[L])]
            m.d.sync += [pen[L].eq(pen_next[L]) for L in range(nl)]
        # G0's fields: the first group's at init (from registers), else f0 + delta at a step.
        with m.If(self.init):
            m.d.sync += [f0[k].eq(nx["f0"][k]) for k in f0]
        with m.Elif(adv):
            m.d.sync += [f0[k].eq(f0[k] + delta[k]) for k in f0]
        self._pair(m, g1, gload)
        return m

    def _first_group(self, m, cnt, last, inner, f0) -> dict:
        """``G0``'s state at the first group of the pass ``init`` starts.

        All of it comes from registers loaded every cycle from ``pass_next``
        (so neither G0's adders nor the step registers meet a pass-index
        decode: on the iCE40 ``pass_index`` → the steps' decode → ``d_rs2`` was
        the critical path of the tiny net at P = 2, 23.1 ns, six LUTs).
        """
        nl = len(LEVELS)
        nx = dict(cnt=[Signal.like(c, name=f"nx_{c.name}") for c in cnt],
                  last=[Signal.like(v, name=f"nx_{v.name}") for v in last],
                  inner=[Const(1)] + [Signal(name=f"nx_{v.name}") for v in inner[1:]],
                  pen=[Signal(name=f"nx_pen_{k}") for k in LEVELS],
                  delta={k: Signal.like(v, name=f"nx_d_{k}") for k, v in f0.items()}, at_first=Signal(name="nx_at_first"),
                  pen_first=Signal(name="nx_pen_first"), up=Signal(nl, name="nx_up"),
                  f0={k: Signal.like(v, name=f"nx_{k}") for k, v in f0.items()})
        with m.Switch(self.pass_next):
            for i, (q, fields) in enumerate(zip(self.passes, self.fields)):
                with m.Case(i):
                    n = counts(q)
                    first = first_level(n)
                    m.d.sync += [nx["f0"][k].eq(fields[k][0]) for k in f0]
                    m.d.sync += [nx["cnt"][L].eq(n[L] - 1) for L in range(nl)]
                    m.d.sync += [nx["last"][L].eq(n[L] == 1) for L in range(nl)]
                    m.d.sync += [nx["inner"][L].eq(all(c == 1 for c in n[:L])) for L in range(1, nl)]
                    m.d.sync += [nx["pen"][L].eq(n[L] == 2) for L in range(nl)] + [nx["at_first"].eq(first < nl)]
                    m.d.sync += [nx["pen_first"].eq(first < nl and n[first] == 2),
                                 nx["up"].eq(one_hot(first_level(n, above=first)))]
                    m.d.sync += [nx["delta"][k].eq(deltas(q, fields[k][1])[first] if first < nl else 0)
                                 for k in f0]
        return nx

    def _steps(self, m, pc, f0, last_next, pen_next, nx, adv):
        """The step registers ``delta``: each field's step at the next ``adv``.

        The level a step advances is the first level (the innermost with more
        than one value) unless that level has just reached its last value:
        then it is ``up``, the innermost level above it not at its last
        value. So after a step, the next step is the first level's unless the
        first level reached its last value (``pen_first``: it was one short);
        then it is the delta of ``up``. Both are AND-ORs of the per-level step
        registers (:meth:`_level_steps`) under one-hot registers (``first``,
        a pass constant, and ``up``, of the state after each step), so no
        adder and a few LUTs sit before ``delta``, and G0's adders start
        from it.
        """
        nl = len(LEVELS)
        delta = {k: Signal.like(v, name=f"d_{k}") for k, v in f0.items()}
        at_first, pen_first, up = Signal(name="at_first"), Signal(name="pen_first"), Signal(nl, name="up")
        first, above = pc["first"], pc["above"]
        steps = self._level_steps(m, f0)
        d_up, d_first = self._select(m, f0, steps, up, "up"), self._select(m, f0, steps, first, "first")
        leaves = at_first & pen_first
        clear = [last_next[i] | ~above[i] for i in range(nl)]
        with m.If(self.init):
            m.d.sync += [delta[k].eq(nx["delta"][k]) for k in f0]
            m.d.sync += [at_first.eq(nx["at_first"]), pen_first.eq(nx["pen_first"]), up.eq(nx["up"])]
        with m.Elif(adv):
            m.d.sync += [delta[k].eq(Mux(leaves, d_up[k], d_first[k])) for k in f0] + [at_first.eq(~leaves)]
            m.d.sync += pen_first.eq(functools.reduce(operator.or_, [first[L] & pen_next[L] for L in range(nl)]))
            m.d.sync += up.eq(Cat(above[j] & ~last_next[j] & functools.reduce(operator.and_, clear[:j], 1)
                                  for j in range(nl)))
        return delta

    def _level_steps(self, m, f0) -> dict:
        """Each field's step per level in the running pass: ``{field: [(level, step)]}``.

        A step is a register loaded at ``init`` (a constant when every pass
        has the same step at that level; left out when it is 0).
        """
        steps = {}
        for k in f0:
            tables = [deltas(q, fields[k][1]) for q, fields in zip(self.passes, self.fields)]
            steps[k] = []
            for L in range(len(LEVELS)):
                values = {table[L] for table in tables}
                if values == {0}:
                    continue
                step = Const(values.pop(), f0[k].shape()) if len(values) == 1 \
                    else self._pass_constant(m, f"d_{k}_{LEVELS[L]}", f0[k].shape(), [t[L] for t in tables])
                steps[k].append((L, step))
        return steps

    @staticmethod
    def _select(m, f0, steps, level, name) -> dict:
        """Each field's step at the one-hot ``level``: an AND-OR of :meth:`_level_steps`."""
        out = {}
        for k, terms in steps.items():
            out[k] = Signal.like(f0[k], name=f"{name}_{k}")
            m.d.comb += out[k].eq(functools.reduce(operator.or_, [Mux(level[L], step, 0) for L, step in terms], 0))
        return out

    def _pass_constant(self, m, name, shape, values) -> Signal:
        """A register loaded at ``init`` with ``values[pass_index]``."""
        reg = Signal(shape, name=name)
        with m.If(self.init):
            with m.Switch(self.pass_index):
                for i, value in enumerate(values):
                    with m.Case(i):
                        m.d.sync += reg.eq(value)
        return reg

    def _pair(self, m, g1, gload):
        """Stage ``T``: the pair offered to the issuer."""
        sb = self.sbits
        t = dict(cols=Signal(sb), rows=Signal(sb), ncols=Signal(sb), ncols0=Signal(), col_last=Signal(),
                 row_last=Signal(), last_group=Signal(), rstep=Signal.like(g1["rstep"]),
                 wstep=Signal.like(g1["wstep"]))
        t = {k: Signal.like(v, name=f"t_{k}") for k, v in t.items()}
        outs = ("naddr", "baddr", "oaddr", "pool_first", "pool_last", "null")
        step = self.take & ~self.last_tap
        inc_pos = self.rpos + Mux(t["col_last"], t["rstep"], 1)
        m.d.comb += self.next_rpos.eq(Mux(gload, g1["pos"], Mux(step, inc_pos, self.rpos)))
        with m.If(gload):
            m.d.sync += [getattr(self, k).eq(g1[k]) for k in outs]
            m.d.sync += [self.rpos.eq(g1["pos"]), self.wpair.eq(g1["w"]), self.first_tap.eq(1),
                         self.last_tap.eq(g1["single"]), self.final.eq(g1["last_group"] & g1["single"]),
                         t["cols"].eq(g1["ncols"]), t["rows"].eq(g1["nrows"]), t["ncols"].eq(g1["ncols"]),
                         t["ncols0"].eq(g1["ncols0"]), t["col_last"].eq(g1["ncols0"]),
                         t["row_last"].eq(g1["nrows0"]), t["last_group"].eq(g1["last_group"]),
                         t["rstep"].eq(g1["rstep"]), t["wstep"].eq(g1["wstep"])]
        with m.Elif(step):
            col_last, row_last = Signal(), Signal()
            m.d.sync += [self.rpos.eq(inc_pos), self.first_tap.eq(0),
                         self.wpair.eq(self.wpair + Mux(t["col_last"], t["wstep"], 1))]
            with m.If(t["col_last"]):
                m.d.comb += [col_last.eq(t["ncols0"]), row_last.eq(t["rows"] == 1)]
                m.d.sync += [t["cols"].eq(t["ncols"]), t["rows"].eq(t["rows"] - 1)]
            with m.Else():
                m.d.comb += [col_last.eq(t["cols"] == 1), row_last.eq(t["row_last"])]
                m.d.sync += t["cols"].eq(t["cols"] - 1)
            m.d.sync += [t["col_last"].eq(col_last), t["row_last"].eq(row_last),
                         self.last_tap.eq(col_last & row_last),
                         self.final.eq(t["last_group"] & col_last & row_last)]
