"""A deliberately naive, literal reading of SPEC.md §2: the tests' oracle.

Pure Python integers and nested loops: per image, per timestep, per layer,
per output neuron. Tensors are nested lists (``[C][H][W]`` or ``[F]``). It
reads the :class:`hwgen.Network` dataclasses but shares no arithmetic with
the library (no ``sim/ops.py``, no ``hwgen.fixedpoint``, no numpy maths), so
an agreement between the two is evidence, not an echo.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LiteralResult:
    """``logits[n][j]``, ``spikes[layer][n][t]``, ``saturations[layer][n]``."""

    logits: list[list[int]]
    spikes: dict[str, list[list[int]]]
    saturations: dict[str, list[int]]


def sat(v: int, bits: int) -> tuple[int, bool]:
    """Clamp ``v`` to ``[-2**(bits-1), 2**(bits-1) - 1]``; report a clamp."""
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if v < lo:
        return lo, True
    if v > hi:
        return hi, True
    return v, False


def _pixel(x, c: int, i: int, j: int) -> int:
    """``x[c][i][j]``, or 0 in the zero padding outside the image."""
    if 0 <= i < len(x[c]) and 0 <= j < len(x[c][0]):
        return x[c][i][j]
    return 0


def _out_size(size: int, pad: int, win: int, step: int) -> int:
    return (size + 2 * pad - win) // step + 1


def conv2d(x, weight, bias, stride, padding):
    """Zero-padded strided 2-D convolution (cross-correlation) plus bias."""
    out_ch, in_ch, kh, kw = len(weight), len(weight[0]), len(weight[0][0]), len(weight[0][0][0])
    ho = _out_size(len(x[0]), padding[0], kh, stride[0])
    wo = _out_size(len(x[0][0]), padding[1], kw, stride[1])
    out = []
    for o in range(out_ch):
        plane = []
        for i in range(ho):
            row = []
            for j in range(wo):
                acc = bias[o] if bias is not None else 0
                for c in range(in_ch):
                    for di in range(kh):
                        for dj in range(kw):
                            pix = _pixel(x, c, i * stride[0] - padding[0] + di,
                                         j * stride[1] - padding[1] + dj)
                            acc += weight[o][c][di][dj] * pix
                row.append(acc)
            plane.append(row)
        out.append(plane)
    return out


def sumpool2d(x, kernel, stride, padding):
    """Sum of the counts in each (zero-padded) window, no division."""
    ho = _out_size(len(x[0]), padding[0], kernel[0], stride[0])
    wo = _out_size(len(x[0][0]), padding[1], kernel[1], stride[1])
    out = []
    for c in range(len(x)):
        plane = []
        for i in range(ho):
            row = []
            for j in range(wo):
                acc = 0
                for di in range(kernel[0]):
                    for dj in range(kernel[1]):
                        acc += _pixel(x, c, i * stride[0] - padding[0] + di,
                                      j * stride[1] - padding[1] + dj)
                row.append(acc)
            plane.append(row)
        out.append(plane)
    return out


def flatten(x) -> list[int]:
    """C-order flattening (channel, row, column) of a nested list."""
    if not isinstance(x, list):
        return [x]
    flat = []
    for item in x:
        flat.extend(flatten(item))
    return flat


def unflatten(flat: list[int], like):
    """Reshape ``flat`` (C-order) into the nesting of ``like``."""
    it = iter(flat)

    def build(template):
        if not isinstance(template, list):
            return next(it)
        return [build(item) for item in template]

    return build(like)


def linear(x, weight, bias):
    """``out[o] = b[o] + sum_i W[o][i] * flat(x)[i]``."""
    flat = flatten(x)
    out = []
    for o in range(len(weight)):
        acc = bias[o] if bias is not None else 0
        for i in range(len(flat)):
            acc += weight[o][i] * flat[i]
        out.append(acc)
    return out


def current(layer, s_in):
    """The synaptic current ``I = W ⊛ s_in + b`` of a conv2d/linear layer."""
    weight = layer.weight.tolist()
    bias = None if layer.bias is None else layer.bias.tolist()
    if layer.op.value == "conv2d":
        return conv2d(s_in, weight, bias, layer.stride, layer.padding)
    return linear(s_in, weight, bias)


def neuron_step(v: int, i: int, neuron) -> tuple[int, int, bool]:
    """One IF update: ``(k, new V, saturated)`` for membrane ``v`` and current ``i``."""
    v, hit = sat(v + i, neuron.v_bits)
    k = v // neuron.threshold          # Python // is floor division
    if k < 0:
        k = 0
    if k > neuron.burst:
        k = neuron.burst
    return k, v - k * neuron.threshold, hit


def run_image(network, image) -> tuple[list[int], dict, dict]:
    """One inference of one image (nested list); logits, spikes per step, saturations."""
    state, spikes, sats = {}, {}, {}
    for layer in network.layers:
        if layer.op.value != "sumpool2d":
            sats[layer.name] = 0
            state[layer.name] = None        # created on first use, shape of I
        if layer.neuron is not None:
            spikes[layer.name] = []
    for _t in range(network.timesteps):
        s = image
        for layer in network.layers:
            if layer.op.value == "sumpool2d":
                s = sumpool2d(s, layer.kernel, layer.stride, layer.padding)
                continue
            cur = current(layer, s)
            flat_i = flatten(cur)
            if state[layer.name] is None:
                start = layer.neuron.v_init if layer.neuron is not None else 0
                state[layer.name] = [start] * len(flat_i)
            v = state[layer.name]
            if layer.neuron is None:
                for n in range(len(flat_i)):
                    v[n], hit = sat(v[n] + flat_i[n], layer.acc_bits)
                    sats[layer.name] += int(hit)
                continue
            ks = []
            for n in range(len(flat_i)):
                k, v[n], hit = neuron_step(v[n], flat_i[n], layer.neuron)
                sats[layer.name] += int(hit)
                ks.append(k)
            spikes[layer.name].append(sum(ks))
            s = unflatten(ks, cur)
    return list(state[network.layers[-1].name]), spikes, sats


def run(network, images) -> LiteralResult:
    """Run every image of ``images`` (``[N, *input.shape]``, ints) literally."""
    images = images.tolist() if hasattr(images, "tolist") else images
    result = LiteralResult([], {}, {})
    for image in images:
        logits, spikes, sats = run_image(network, image)
        result.logits.append(logits)
        for name, per_step in spikes.items():
            result.spikes.setdefault(name, []).append(per_step)
        for name, count in sats.items():
            result.saturations.setdefault(name, []).append(count)
    return result
