"""The pass walker's loop levels and affine fields, computed in Python from a pass.

:class:`rtl_templates.walker.Walker` steps every group quantity that is affine
in the five loop counters (:data:`LEVELS`) by a per-pass constant; this module
gives those quantities (:func:`affine`), their steps (:func:`deltas`) and
ranges (:func:`field_range`), so the hardware's widths and constants come from
the same arithmetic the tests check.
"""
from __future__ import annotations

from hwgen.hwplan import Kind, Pass

#: Loop levels, innermost first.
LEVELS = ("dx", "dy", "g", "px", "py")
#: Small signed affine fields: the window's first column ``ix0`` and, so that G1 needs no adder,
#: ``ixq = ix0 + kw - iw - 1`` (its sign: clipped on the right), ``ixr = ix0 + kw - 1`` and
#: ``ixo = ix0 - iw`` (signs: the window misses the input; also its width when clipped), and the
#: row steps of each clipping case ``rs1``, ``rs2``, ``ws1``, ``ws2``; the same for rows.
SMALL = ("ix0", "ixq", "ixr", "ixo", "rs1", "rs2", "ws1", "ws2", "iy0", "iyq", "iyr", "iyo")
#: Address-like affine fields, computed modulo their width.
WIDE = ("rbx", "extra", "gb", "wg", "naddr", "baddr", "oaddr")


def geometry(q: Pass) -> dict:
    """Kernel, stride, padding and input size the walker uses (1x1 for a flat or scan walk)."""
    w = q.walk
    if w.flat or q.kind is Kind.SCAN:
        return dict(kh=1, kw=1, sh=0, sw=0, ph=0, pw=0, ih=1, iw=1)
    return dict(kh=w.kh, kw=w.kw, sh=w.sh, sw=w.sw, ph=w.ph, pw=w.pw, ih=w.ih, iw=w.iw)


def counts(q: Pass) -> tuple[int, ...]:
    """Trip counts of the levels of :data:`LEVELS`."""
    w = q.walk
    if q.kind is Kind.SCAN:
        return (1,) * len(LEVELS)
    return (w.pkw, w.pkh, w.groups, w.qw, w.qh)


def first_level(n: tuple[int, ...], above: int = -1) -> int:
    """The innermost level above ``above`` with more than one value (``len(LEVELS)``: none)."""
    return min([L for L in range(above + 1, len(LEVELS)) if n[L] != 1] + [len(LEVELS)])


def one_hot(level: int) -> int:
    """``level`` as a one-hot :data:`LEVELS` mask (0 for ``len(LEVELS)``: no level)."""
    return (1 << level) & ((1 << len(LEVELS)) - 1)


def affine(q: Pass, src_base: int, dst_base: int) -> dict[str, tuple[int, tuple[int, ...]]]:
    """Each field as ``(value at the first group, coefficient per level)``.

    ``src_base``/``dst_base`` are the word offsets of the pass's source and
    destination buffers in the banks.
    """
    if q.kind is Kind.SCAN:
        return {k: (0, (0,) * 5) for k in SMALL + WIDE}
    w, g = q.walk, geometry(q)
    kh, kw, sh, sw, ph, pw, ih, iw = (g[k] for k in ("kh", "kw", "sh", "sw", "ph", "pw", "ih", "iw"))
    pool, dense = q.kind is Kind.POOL, q.kind in (Kind.CONV, Kind.POOL) and not q.event
    hw = w.ih * w.iw
    ox = (1, 0, 0, w.pkw, 0)                  # d ox / d level
    oy = (0, 1, 0, 0, w.pkh)
    gl = (0, 0, 1, 0, 0)
    extra0 = src_base if dense else 0
    fields = {
        "ix0": (-pw, tuple(sw * c for c in ox)),
        "ixq": (-pw + kw - iw - 1, tuple(sw * c for c in ox)),
        "ixr": (-pw + kw - 1, tuple(sw * c for c in ox)),
        "ixo": (-pw - iw, tuple(sw * c for c in ox)),
        "rs1": (-pw + 1, tuple(sw * c for c in ox)),
        "rs2": (iw - kw + 1 + pw, tuple(-sw * c for c in ox)),
        "ws1": (kw - iw + 1 - pw, tuple(sw * c for c in ox)),
        "ws2": (1 + pw, tuple(-sw * c for c in ox)),
        "iy0": (-ph, tuple(sh * c for c in oy)),
        "iyq": (-ph + kh - ih - 1, tuple(sh * c for c in oy)),
        "iyr": (-ph + kh - 1, tuple(sh * c for c in oy)),
        "iyo": (-ph - ih, tuple(sh * c for c in oy)),
        "extra": (extra0, tuple(hw * c if pool else 0 for c in gl)),
        "rbx": (-ph * iw + extra0, tuple(sh * iw * a + (hw * b if pool else 0) for a, b in zip(oy, gl))),
        "gb": (q.wbase, tuple(q.ckk * c for c in gl)),
        "wg": (q.wbase + ph * kw, tuple(q.ckk * b - sh * kw * a for a, b in zip(oy, gl))),
        "naddr": (q.nbase, tuple(w.oh * w.ow * b + w.ow * a + c for a, b, c in zip(oy, gl, ox))),
        "baddr": (q.bbase, gl),
        "oaddr": (dst_base, (0, 0, w.qh * w.qw, 1, w.qw)),
    }
    return fields


def deltas(q: Pass, coef: tuple[int, ...]) -> list[int]:
    """Step of a field when level ``L`` advances (the inner levels wrap to 0)."""
    n = counts(q)
    return [coef[L] - sum(coef[j] * (n[j] - 1) for j in range(L)) for L in range(len(LEVELS))]


def field_range(q: Pass, value: tuple[int, tuple[int, ...]]) -> tuple[int, int]:
    """Smallest and largest value of an affine field over the walk."""
    const, coef = value
    lo = hi = const
    for c, n in zip(coef, counts(q)):
        lo, hi = lo + min(0, c * (n - 1)), hi + max(0, c * (n - 1))
    return lo, hi
