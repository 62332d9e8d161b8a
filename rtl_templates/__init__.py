"""Amaranth 0.5 components of the accelerator (installed as ``hwgen.rtl``)."""
