"""The pass walker: the loop nest of :class:`hwgen.hwplan.Walk` in hardware.

The walker holds one *pair* (group, tap) in registers and moves to the next
pair when the issuer takes it. Everything a pass needs is a Python constant,
so :func:`walker_logic` emits one ``Case`` of constant arithmetic per pass
and the registers are shared. Loop order::

    for py < qh, px < qw, g < groups, dy < pkh, dx < pkw:     # a group
        for ky in valid rows, kx in valid cols:                # a pair (tap)

with :math:`o_y = p_y k^{pool}_h + d_y`, valid rows
:math:`\\max(0, p_h - o_y s_h) \\le k_y \\le \\min(k_h - 1, i_h - 1 + p_h - o_y s_h)`.
A group without a valid tap, or of a ``flat`` walk, is one pair.
"""
from __future__ import annotations

from amaranth import Mux, Signal, signed

from hwgen.hwplan import Kind, Pass

COUNTERS = ("py", "px", "g", "dy", "dx", "ky", "kx")
DERIVED = ("null", "first_tap", "last_tap", "final", "pos", "tap_off", "naddr", "baddr", "gbase",
           "oaddr", "pool_first", "pool_last", "g_out")


def _bits(n: int) -> int:
    return max(1, int(n).bit_length())


def walker_signals(passes: list[Pass], addr_bits: int) -> tuple[dict, dict, dict]:
    """Registers ``cur``, next-state ``nxt`` and ``derived`` comb signals."""
    top = max(max(q.walk.qh, q.walk.qw, q.walk.groups, q.walk.pkh, q.walk.pkw, q.walk.kh, q.walk.kw)
              for q in passes)
    cur = {k: Signal(range(top + 1), name=f"w_{k}") for k in COUNTERS}
    nxt = {k: Signal(range(top + 1), name=f"wn_{k}") for k in COUNTERS}
    derived = {k: Signal(1, name=f"w_{k}") for k in ("null", "first_tap", "last_tap", "final",
                                                     "pool_first", "pool_last")}
    for k in ("pos", "tap_off", "naddr", "baddr", "gbase", "oaddr", "g_out"):
        derived[k] = Signal(addr_bits, name=f"w_{k}")
    derived["next_pos"] = Signal(addr_bits, name="w_next_pos")
    derived["init_pos"] = Signal(addr_bits, name="w_init_pos")
    return cur, nxt, derived


def _tap_bounds(q: Pass, o, axis: int):
    w = q.walk
    k, s, p, i = (w.kh, w.sh, w.ph, w.ih) if axis == 0 else (w.kw, w.sw, w.pw, w.iw)
    a = Signal(signed(32), name=f"t{axis}_a")
    b = Signal(signed(32), name=f"t{axis}_b")
    return a, b, [a.eq(Mux(p - o * s > 0, p - o * s, 0)), b.eq(Mux(i - 1 + p - o * s < k - 1,
                                                                     i - 1 + p - o * s, k - 1))]


def _pos(q: Pass, oy, ox, ky, kx):
    w = q.walk
    if q.flat_list and q.kind is not Kind.SCAN:
        return 0
    return (oy * w.sh - w.ph + ky) * w.iw + (ox * w.sw - w.pw + kx)


def walker_logic(m, q: Pass, cur: dict, nxt: dict, derived: dict):
    """Emit (inside the pass's ``Case``) the derived signals and next state of pass ``q``."""
    w = q.walk
    oy, ox = cur["py"] * w.pkh + cur["dy"], cur["px"] * w.pkw + cur["dx"]
    ylo, yhi, s1 = _tap_bounds(q, oy, 0)
    xlo, xhi, s2 = _tap_bounds(q, ox, 1)
    m.d.comb += s1 + s2
    null = (ylo > yhi) | (xlo > xhi) if not w.flat else (q.kind is Kind.CACHED)
    one = w.flat or q.kind is Kind.CACHED
    last_tap = 1 if one else (null | ((cur["ky"] == yhi) & (cur["kx"] == xhi)))
    first_tap = 1 if one else (null | ((cur["ky"] == ylo) & (cur["kx"] == xlo)))
    group_end = [cur["py"] == w.qh - 1, cur["px"] == w.qw - 1, cur["g"] == w.groups - 1,
                 cur["dy"] == w.pkh - 1, cur["dx"] == w.pkw - 1]
    final = last_tap
    for cond in group_end:
        final = final & cond
    m.d.comb += [
        derived["null"].eq(null), derived["last_tap"].eq(last_tap), derived["first_tap"].eq(first_tap),
        derived["final"].eq(final),
        derived["pos"].eq(_pos(q, oy, ox, cur["ky"], cur["kx"])),
        derived["tap_off"].eq(0 if one else cur["ky"] * w.kw + cur["kx"]),
        derived["naddr"].eq(q.nbase + cur["g"] * (w.oh * w.ow) + oy * w.ow + ox),
        derived["baddr"].eq(q.bbase + cur["g"]),
        derived["gbase"].eq(q.wbase + cur["g"] * q.ckk),
        derived["oaddr"].eq(cur["g"] * (w.qh * w.qw) + cur["py"] * w.qw + cur["px"]),
        derived["g_out"].eq(cur["g"]),
        derived["pool_first"].eq((cur["dy"] == 0) & (cur["dx"] == 0)),
        derived["pool_last"].eq((cur["dy"] == w.pkh - 1) & (cur["dx"] == w.pkw - 1)),
    ]
    # Next group: dx, dy, g, px, py innermost first.
    order = [("dx", w.pkw), ("dy", w.pkh), ("g", w.groups), ("px", w.qw), ("py", w.qh)]
    ng = {k: Signal.like(cur[k], name=f"ng_{k}") for k, _ in order}
    carry = 1
    for k, n in order:
        m.d.comb += ng[k].eq(Mux(carry, Mux(cur[k] == n - 1, 0, cur[k] + 1), cur[k]))
        carry = carry & (cur[k] == n - 1)
    noy, nox = ng["py"] * w.pkh + ng["dy"], ng["px"] * w.pkw + ng["dx"]
    nylo, _, s3 = _tap_bounds(q, noy, 0)
    nxlo, _, s4 = _tap_bounds(q, nox, 1)
    m.d.comb += s3 + s4
    with m.If(last_tap):
        m.d.comb += [nxt[k].eq(ng[k]) for k in ng]
        m.d.comb += [nxt["ky"].eq(nylo), nxt["kx"].eq(nxlo)]
    with m.Else():
        m.d.comb += [nxt[k].eq(cur[k]) for k in ng]
        with m.If(cur["kx"] == xhi):
            m.d.comb += [nxt["kx"].eq(xlo), nxt["ky"].eq(cur["ky"] + 1)]
        with m.Else():
            m.d.comb += [nxt["kx"].eq(cur["kx"] + 1), nxt["ky"].eq(cur["ky"])]
    noy2, nox2 = nxt["py"] * w.pkh + nxt["dy"], nxt["px"] * w.pkw + nxt["dx"]
    m.d.comb += derived["next_pos"].eq(_pos(q, noy2, nox2, nxt["ky"], nxt["kx"]))
    iy0, ix0 = w.tap_range(0, 0)[0], w.tap_range(0, 1)[0]
    m.d.comb += derived["init_pos"].eq(_pos(q, 0, 0, iy0, ix0))


def init_state(q: Pass) -> dict[str, int]:
    """Register values of the first pair of pass ``q``."""
    state = {k: 0 for k in COUNTERS}
    state["ky"], state["kx"] = q.walk.tap_range(0, 0)[0], q.walk.tap_range(0, 1)[0]
    return state
