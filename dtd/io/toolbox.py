"""The LRP Toolbox's plain-text model format (sebastian-lapuschkin/lrp_toolbox, ``model_io``).

One block per layer, a header line and, for layers with parameters, a line of
flattened weights and a line of biases (white-space separated numbers)::

    Convolution h w d n s0 s1     weights W (h, w, d, n) flattened in C order; then n biases
    Linear m n                    weights W (m, n) flattened in C order (y = x W + b); then n biases
    SumPool h w s0 s1             y = sum over the h x w window / sqrt(h w)
    MaxPool h w s0 s1
    Rect | Tanh | SoftMax | Flatten

The toolbox computes on NHWC arrays without padding.  :func:`load_lrp_toolbox`
returns a :class:`~dtd.Sequential` that computes the same function on NCHW
input (``x_nchw = x_nhwc.transpose(0, 3, 1, 2)``):

- ``Convolution``: ``Conv2d(W.transpose(3, 2, 0, 1), b, stride=(s0, s1))``;
- ``Linear``: ``Dense(W.T, b)``;
- ``SumPool``: :class:`~dtd.layers.ScaledSumPool2d` with scale ``1/sqrt(h w)``;
- ``MaxPool``: :class:`~dtd.layers.MaxPool2d`; ``Rect``: ReLU; ``Tanh``: :class:`~dtd.layers.Tanh`;
- ``Flatten`` after a spatial layer: ``Transpose((0, 2, 3, 1))`` then ``Flatten``,
  so that features come in the toolbox's (h, w, c) order; a ``Flatten`` before
  any spatial layer is a plain Flatten (the same as the toolbox's on flat input,
  or on images with one channel);
- a ``SoftMax`` at the end is stripped (reported in ``net.import_notes``), as
  in the ONNX import.  The older format that writes ``Linear`` weights one row
  per line is read too.
"""
import os

import numpy as np

from ..layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU, ScaledSumPool2d, Tanh, Transpose
from ..network import Sequential
from .errors import ModelFileError

__all__ = ["load_lrp_toolbox", "TOOLBOX_LAYERS", "looks_like_toolbox"]

#: header names and the number of integers after them
TOOLBOX_LAYERS = {"Linear": 2, "Convolution": 6, "SumPool": 4, "MaxPool": 4, "Rect": 0, "Tanh": 0,
                  "SoftMax": 0, "Flatten": 0}


def looks_like_toolbox(head):
    """Whether the first bytes of a file start like a toolbox model (its first word is a layer name)."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return False
    words = text.split(None, 1)
    return bool(words) and words[0] in TOOLBOX_LAYERS


class _Reader:
    def __init__(self, path, lines):
        self.path, self.lines, self.i = path, lines, 0

    def fail(self, why, line=None):
        line = self.i if line is None else line
        raise ModelFileError(f"{self.path}: line {line}: {why}")

    def next_line(self, what):
        if self.i >= len(self.lines):
            raise ModelFileError(f"{self.path}: the file ends where {what} should be (truncated?)")
        self.i += 1
        return self.lines[self.i - 1]

    def numbers(self, count, what):
        line = self.next_line(what)
        tokens = line.split()
        try:
            values = np.array(tokens, dtype=np.float64)
        except ValueError:
            bad = next(t for t in tokens if not _is_float(t))
            self.fail(f"{what}: {bad[:40]!r} is not a number")
        if count is not None and values.size != count:
            self.fail(f"{what}: expected {count} numbers, found {values.size}")
        if not np.isfinite(values).all():
            self.fail(f"{what}: contains NaN or Inf")
        return values


def _is_float(t):
    try:
        float(t)
        return True
    except ValueError:
        return False


def _header(reader, tokens):
    name, nargs = tokens[0], TOOLBOX_LAYERS[tokens[0]]
    args = tokens[1:]
    if len(args) != nargs or not all(a.isdigit() and int(a) > 0 for a in args):
        want = {"Linear": "Linear m n", "Convolution": "Convolution h w d n s0 s1",
                "SumPool": "SumPool h w s0 s1", "MaxPool": "MaxPool h w s0 s1"}.get(name, name)
        reader.fail(f"malformed header {' '.join(tokens)[:80]!r} (expected {want!r} with positive integers)")
    return [int(a) for a in args]


def _linear(reader, m, n):
    first = reader.numbers(None, f"the weights of 'Linear {m} {n}'")
    if first.size == m * n:
        W = first.reshape(m, n)
    elif first.size == n and m > 1:     # the older format: one row of W per line
        W = np.vstack([first] + [reader.numbers(n, f"row {r} of the weights of 'Linear {m} {n}'")
                                 for r in range(1, m)])
    else:
        reader.fail(f"the weights of 'Linear {m} {n}': expected {m * n} numbers, found {first.size}")
    b = reader.numbers(n, f"the biases of 'Linear {m} {n}'")
    return Dense(W.T.copy(), b)


def _convolution(reader, h, w, d, n, s0, s1):
    what = f"'Convolution {h} {w} {d} {n} {s0} {s1}'"
    W = reader.numbers(h * w * d * n, f"the weights of {what}").reshape(h, w, d, n)
    b = reader.numbers(n, f"the biases of {what}")
    return Conv2d(W.transpose(3, 2, 0, 1).copy(), b, stride=(s0, s1))


def load_lrp_toolbox(path):
    """Read an LRP Toolbox plain-text model as a :class:`~dtd.Sequential` taking NCHW input.

    Returns
    -------
    Sequential
        With ``import_notes`` (list of str) and ``stripped_output``
        (``"SoftMax"`` or None), as :func:`dtd.io.load_onnx`.

    Raises
    ------
    ModelFileError
        Missing or binary file, unknown layer name, malformed header or number,
        a wrong count of numbers, a truncated block, NaN/Inf, or layers whose
        sizes do not chain.  The message names the line.
    """
    from .native import _out_channels

    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read ({e})") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ModelFileError(f"{path}: not an LRP Toolbox text model (not an ASCII text file)") from None
    reader = _Reader(path, text.splitlines())
    layers, notes, stripped, spatial = [], [], None, False
    header_line = []            # the header line of each layer, for messages
    while reader.i < len(reader.lines):
        line = reader.next_line("a layer")
        tokens = line.split()
        if not tokens:
            continue
        if tokens[0] not in TOOLBOX_LAYERS:
            reader.fail(f"unknown layer {tokens[0][:40]!r} (the LRP Toolbox format knows: "
                        f"{', '.join(TOOLBOX_LAYERS)})")
        if stripped:
            reader.fail(f"layer {tokens[0]!r} after the SoftMax; SoftMax is supported only as the last layer")
        args = _header(reader, tokens)
        start = reader.i
        try:
            name = tokens[0]
            if name == "Linear":
                layers.append(_linear(reader, *args))
            elif name == "Convolution":
                layers.append(_convolution(reader, *args))
                spatial = True
            elif name in ("SumPool", "MaxPool"):
                h, w, s0, s1 = args
                layers.append(ScaledSumPool2d((h, w), (s0, s1)) if name == "SumPool" else MaxPool2d((h, w), (s0, s1)))
                spatial = True
            elif name == "Rect":
                layers.append(ReLU())
            elif name == "Tanh":
                layers.append(Tanh())
            elif name == "Flatten":
                layers.extend([Transpose((0, 2, 3, 1)), Flatten()] if spatial else [Flatten()])
                spatial = False
            else:  # SoftMax
                stripped = "SoftMax"
                notes.append(f"stripped the SoftMax at the output (line {start}): the network gives the scores "
                             "before it, which is what relevance is computed for")
        except ModelFileError:
            raise
        except ValueError as e:   # a layer's own check (e.g. a kernel larger than the input is found later)
            reader.fail(str(e), start)
        header_line += [start] * (len(layers) - len(header_line))
    if not layers:
        raise ModelFileError(f"{path}: no layers (an empty file, or not an LRP Toolbox text model)")
    channels = None
    for layer, line in zip(layers, header_line):
        try:
            channels = _out_channels(layer, channels, f"line {line}")
        except ValueError as e:
            raise ModelFileError(f"{path}: layers do not fit together: {e}") from None
    net = Sequential(layers)
    net.import_notes, net.stripped_output = notes, stripped
    return net
