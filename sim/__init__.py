"""Simulation: the bit-exact golden model (and, next, the cycle model)."""
