r"""The lanes' synapse product, three registered stages, in the fabric or in a DSP block.

:math:`x \cdot w = \sum_{j < b-1} w_j\, x\, 2^j - w_{b-1}\, x\, 2^{b-1}` for a
signed ``b``-bit weight: one partial product per weight bit, summed by a
balanced adder tree. The first stage registers the tree's first level
(the pairwise sums of the partial products), the second the tree's last
two partial sums, the third their sum: one or two adders a stage for
weights of up to 16 bits, which an iCE40 UP5K needs. Written out (instead of ``x * w``) so
that synthesis builds a shallow tree of carry chains in the fabric: an
ECP5 DSP without its internal registers (which Yosys does not use) is
slower than the rest of the lane.

With ``dsp=True`` the product is ``x * w`` followed by three registers
without reset: Yosys's ``ice40_dsp`` packs the multiply and the first two
(the 8x8 products' and the 16x16 sum's pipeline registers) into one
``SB_MAC16`` and the third into its output register, so the lane's product
costs no logic cells (the UP5K has 8, one a lane up to :math:`P = 8`; the
784-128-10 MLP at :math:`P = 4` went from 5 136 to 4 530 logic cells and
41.9 to 47.4 MHz). Yosys maps a product of fewer than 11 bits to logic
(``DSP_Y_MINWIDTH``), and one wider than 16 x 16 bits to several blocks.
The latency is the same either way.
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


def multiply(m, x, w, prefix: str = "mul", dsp: bool = False):
    """Registered product ``x * w`` of signed ``x`` and ``w``, ``LATENCY`` cycles later.

    Parameters
    ----------
    m : Module
    x, w : Value
        Signed operands (registers, for timing).
    prefix : str
        Name prefix of the pipeline registers.
    dsp : bool
        ``x * w`` and reset-less registers, for a DSP block (module docstring);
        else the shift-add tree.

    Returns
    -------
    Signal
        ``signed(len(x) + len(w))``.
    """
    bits = len(w)
    width = len(x) + bits
    if dsp:
        return _dsp_product(m, x * w, width, prefix)
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


def _dsp_product(m, product, width: int, prefix: str):
    """``product`` through ``LATENCY`` registers without reset (a DSP block's own registers)."""
    stage = product
    for name in ("d1", "d2", "prod"):
        reg = Signal(signed(width), name=f"{prefix}_{name}", reset_less=True)
        m.d.sync += reg.eq(stage)
        stage = reg
    return stage
