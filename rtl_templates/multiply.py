r"""A three-stage shift-add multiplier for the lanes' synapse product.

:math:`x \cdot w = \sum_{j < b-1} w_j\, x\, 2^j - w_{b-1}\, x\, 2^{b-1}` for a
signed ``b``-bit weight: one partial product per weight bit, summed by a
balanced adder tree. The first stage registers the tree's first level
(the pairwise sums of the partial products), the second the tree's last
two partial sums, the third their sum: one or two adders a stage for
weights of up to 16 bits, which an iCE40 UP5K needs. Written out (instead of ``x * w``) so
that synthesis builds a shallow tree of carry chains in the fabric: an
ECP5 DSP without its internal registers (which Yosys does not use) is
slower than the rest of the lane, and an iCE40 UP5K has too few DSPs for
the lanes anyway.
"""
from __future__ import annotations

from amaranth import Mux, Signal, signed

#: Cycles from the operands to the product.
LATENCY = 3


def _combine(a, b):
    """``a + b`` of ``(value, shift, negative)`` terms, ``a`` of the smaller shift."""
    (va, sa, na), (vb, sb, nb) = a, b
    vb = vb << (sb - sa)
    if na == nb:
        return va + vb, sa, na
    return (va - vb, sa, False) if nb else (vb - va, sa, False)


def _tree(terms):
    """Sum ``terms`` pairwise, one level of the tree."""
    out = [_combine(terms[i], terms[i + 1]) for i in range(0, len(terms) - 1, 2)]
    return out + terms[len(out) * 2:]


def _register(m, terms, width: int, prefix: str):
    """Each ``(value, shift, negative)`` term in a register wide enough for any product bit above ``shift``."""
    regs = []
    for i, (value, shift, negative) in enumerate(terms):
        reg = Signal(signed(width - shift + 1), name=f"{prefix}{i}")
        m.d.sync += reg.eq(value)
        regs.append((reg, shift, negative))
    return regs


def multiply(m, x, w, prefix: str = "mul"):
    """Registered product ``x * w`` of signed ``x`` and ``w``, ``LATENCY`` cycles later.

    Parameters
    ----------
    m : Module
    x, w : Value
        Signed operands (registers, for timing).
    prefix : str
        Name prefix of the pipeline registers.

    Returns
    -------
    Signal
        ``signed(len(x) + len(w))``.
    """
    bits = len(w)
    width = len(x) + bits
    # One partial product per weight bit; the sign bit weighs -2^(b-1).
    terms = _register(m, _tree([(Mux(w[j], x, 0), j, j == bits - 1) for j in range(bits)]), width,
                      f"{prefix}_q")
    while len(terms) > 2:
        terms = _tree(terms)
    regs = _register(m, terms, width, f"{prefix}_p")
    prod = Signal(signed(width), name=f"{prefix}_prod")
    total, shift, negative = _tree(regs)[0]
    m.d.sync += prod.eq(-(total << shift) if negative else total << shift)
    return prod
