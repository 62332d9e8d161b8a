"""Rich tables describing networks (used by the CLI)."""
from __future__ import annotations

import math

from rich.table import Table

from .network import Network


def network_table(network: Network) -> Table:
    """One row per layer: op, output shape, weights, neuron parameters."""
    table = Table(title=f"hwgen-snn/1: T={network.timesteps}, input {list(network.input.shape)} "
                        f"({network.input.bits}-bit)")
    for column in ("layer", "op", "output", "weights", "θ", "v_init", "Γ", "width"):
        table.add_column(column)
    for layer, shape in zip(network.layers, network.shapes[1:]):
        n = layer.neuron
        weights = str(math.prod(layer.weight.shape)) if layer.has_weights else "-"
        width = (f"v{n.v_bits}" if n else f"acc{layer.acc_bits}") if layer.has_weights else "-"
        table.add_row(layer.name, layer.op.value, "x".join(map(str, shape)), weights,
                      *(map(str, (n.threshold, n.v_init, n.burst)) if n else ("-",) * 3), width)
    return table
