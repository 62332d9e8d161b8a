"""Testbenches: Amaranth-simulator runner, cocotb bench, test networks."""
