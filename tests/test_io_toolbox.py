"""LRP Toolbox plain-text models: hand-written files, outputs and LRP-0 explanations against an
independent NHWC reference written here with explicit loops (the toolbox's own semantics: HWIO
filters without padding, SumPool scaled by 1/sqrt(h w), Flatten in (h, w, c) order, y = x W + b).

float64; the imported network computes the same sums in another order: rtol 1e-12.
"""
import numpy as np
import pytest

from dtd import ModelFileError
from dtd.io import load_any, load_lrp_toolbox
from dtd.layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU, ScaledSumPool2d, Tanh, Transpose
from dtd.rules import Epsilon

TOL = dict(rtol=1e-12, atol=1e-12)


def fmt(a):
    return " ".join(repr(float(v)) for v in np.ravel(a))


# ---------------------------------------------------------------- the NHWC reference (loops)
def windows_nhwc(x, h, w, s0, s1):
    N, H, W, D = x.shape
    for i in range((H - h) // s0 + 1):
        for j in range((W - w) // s1 + 1):
            yield i, j, (slice(None), slice(i * s0, i * s0 + h), slice(j * s1, j * s1 + w))


def ref_forward(blocks, x):
    """All activations (input of each block, then the output) of the toolbox's forward pass."""
    acts = [x]
    for kind, p in blocks:
        if kind == "Convolution":
            W, B, (s0, s1) = p
            h, w, _, n = W.shape
            Ho, Wo = (x.shape[1] - h) // s0 + 1, (x.shape[2] - w) // s1 + 1
            y = np.zeros((x.shape[0], Ho, Wo, n))
            for i, j, win in windows_nhwc(x, h, w, s0, s1):
                for f in range(n):
                    y[:, i, j, f] = (x[win] * W[:, :, :, f]).sum(axis=(1, 2, 3)) + B[f]
        elif kind in ("SumPool", "MaxPool"):
            h, w, s0, s1 = p
            Ho, Wo = (x.shape[1] - h) // s0 + 1, (x.shape[2] - w) // s1 + 1
            y = np.zeros((x.shape[0], Ho, Wo, x.shape[3]))
            for i, j, win in windows_nhwc(x, h, w, s0, s1):
                y[:, i, j] = x[win].sum(axis=(1, 2)) / np.sqrt(h * w) if kind == "SumPool" else x[win].max(axis=(1, 2))
        elif kind == "Rect":
            y = np.maximum(x, 0)
        elif kind == "Tanh":
            y = np.tanh(x)
        elif kind == "Flatten":
            y = x.reshape(x.shape[0], -1)
        elif kind == "Linear":
            W, B = p
            y = x @ W + B
        acts.append(y)
        x = y
    return acts


def ref_lrp0(blocks, acts, c):
    """LRP-0 (z-rule with bias in the denominator, 0/0 := 0) from f_c back to the input, NHWC."""
    def div(a, b):
        return np.divide(a, b, out=np.zeros_like(a), where=b != 0)
    R = np.zeros_like(acts[-1])
    R[:, c] = acts[-1][:, c]
    for (kind, p), x in zip(reversed(blocks), reversed(acts[:-1])):
        if kind == "Linear":
            W, B = p
            Z = x[:, :, None] * W[None]
            R = (div(Z, Z.sum(axis=1, keepdims=True) + B) * R[:, None, :]).sum(axis=2)
        elif kind == "Convolution":
            W, B, (s0, s1) = p
            Rx = np.zeros_like(x)
            for i, j, win in windows_nhwc(x, W.shape[0], W.shape[1], s0, s1):
                Z = x[win][..., None] * W[None]
                Zs = Z.sum(axis=(1, 2, 3), keepdims=True) + B
                Rx[win] += (div(Z, Zs) * R[:, i, j][:, None, None, None, :]).sum(axis=4)
            R = Rx
        elif kind in ("SumPool", "MaxPool"):
            h, w, s0, s1 = p
            Rx = np.zeros_like(x)
            for i, j, win in windows_nhwc(x, h, w, s0, s1):
                if kind == "SumPool":
                    Z = x[win]
                else:
                    Z = (x[win] == x[win].max(axis=(1, 2), keepdims=True)).astype(float)
                Rx[win] += div(Z, Z.sum(axis=(1, 2), keepdims=True)) * R[:, i, j][:, None, None, :]
            R = Rx
        elif kind == "Flatten":
            R = R.reshape(x.shape)
    return R


def write(path, blocks, softmax=True):
    lines = []
    for kind, p in blocks:
        if kind == "Convolution":
            W, B, (s0, s1) = p
            lines += [f"Convolution {' '.join(map(str, W.shape))} {s0} {s1}", fmt(W), fmt(B)]
        elif kind == "Linear":
            W, B = p
            lines += [f"Linear {W.shape[0]} {W.shape[1]}", fmt(W), fmt(B)]
        elif kind in ("SumPool", "MaxPool"):
            lines.append(f"{kind} {' '.join(map(str, p))}")
        else:
            lines.append(kind)
    if softmax:
        lines.append("SoftMax")
    path.write_text("\n".join(lines) + "\n")
    return path


def conv_blocks(seed=0):
    r = np.random.default_rng(seed)
    return [
        ("Convolution", (r.normal(size=(2, 3, 3, 4)), r.normal(size=4) * 0.1, (1, 2))),
        ("Rect", None),
        ("SumPool", (2, 2, 2, 1)),
        ("Tanh", None),
        ("Convolution", (r.normal(size=(1, 2, 4, 5)), -np.abs(r.normal(size=5)) * 0.1, (1, 1))),
        ("Rect", None),
        ("MaxPool", (2, 2, 1, 1)),
        ("Flatten", None),
        ("Linear", (r.normal(size=(3 * 2 * 5, 3)), r.normal(size=3) * 0.1)),
    ]


def test_conv_net_forward_and_lrp0_match_nhwc_reference(tmp_path):
    blocks = conv_blocks()
    net = load_lrp_toolbox(write(tmp_path / "cnn.txt", blocks))
    assert [type(l) for l in net.layers] == [Conv2d, ReLU, ScaledSumPool2d, Tanh, Conv2d, ReLU, MaxPool2d, Transpose,
                                             Flatten, Dense]
    assert net.stripped_output == "SoftMax" and "stripped the SoftMax" in net.import_notes[0]
    x = np.random.default_rng(1).uniform(0, 1, size=(3, 10, 11, 3))        # NHWC: H=10, W=11, 3 channels
    acts = ref_forward(blocks, x)
    assert acts[-1].shape == (3, 3)
    x_nchw = x.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(net.forward(x_nchw), acts[-1], **TOL)
    for c in range(3):
        R = net.explain(x_nchw, Epsilon(0.0), target=c)
        np.testing.assert_allclose(R.transpose(0, 2, 3, 1), ref_lrp0(blocks, acts, c), **TOL)


def test_mlp_and_the_older_row_per_line_format(tmp_path):
    r = np.random.default_rng(2)
    W1, B1, W2, B2 = r.normal(size=(4, 3)), r.normal(size=3), r.normal(size=(3, 2)), r.normal(size=2)
    text = "\n".join(["Linear 4 3", *[fmt(row) for row in W1], fmt(B1), "Tanh", "Linear 3 2", fmt(W2), fmt(B2), "Rect"])
    path = tmp_path / "mlp.txt"
    path.write_text(text + "\n\n")
    net = load_lrp_toolbox(path)
    assert [type(l) for l in net.layers] == [Dense, Tanh, Dense, ReLU] and net.stripped_output is None
    x = r.normal(size=(5, 4))
    np.testing.assert_allclose(net.forward(x), np.maximum(np.tanh(x @ W1 + B1) @ W2 + B2, 0), **TOL)
    assert load_any(path).model_format == "toolbox"


def test_flatten_first_is_plain(tmp_path):
    r = np.random.default_rng(3)
    W, B = r.normal(size=(4, 2)), r.normal(size=2)
    net = load_lrp_toolbox(write(tmp_path / "f.txt", [("Flatten", None), ("Linear", (W, B))], softmax=False))
    assert [type(l) for l in net.layers] == [Flatten, Dense]
    x = r.normal(size=(2, 1, 2, 2))                  # one channel: NCHW and NHWC flatten alike
    np.testing.assert_allclose(net.forward(x), x.reshape(2, -1) @ W + B, **TOL)


@pytest.mark.parametrize("text,message", [
    ("Linear 2 3\n0.1 abc 0.3 0.4 0.5 0.6\n0 0 0\n", r"line 2: the weights of 'Linear 2 3': 'abc' is not a number"),
    ("Linear 2 3\n0.1 0.2 0.3 0.4 0.5\n0 0 0\n", r"line 2: the weights of 'Linear 2 3': expected 6 numbers, found 5"),
    ("Linear 2 3\n1 2 3 4 5 6\n", r"the file ends where the biases of 'Linear 2 3' should be \(truncated\?\)"),
    ("Linear 2 3\n1 2 3 4 5 6\n0 0\n", r"line 3: the biases of 'Linear 2 3': expected 3 numbers, found 2"),
    ("Linear 2\n1 2\n0\n", r"line 1: malformed header 'Linear 2' \(expected 'Linear m n'"),
    ("Convolution 2 2 1 1 1\n", r"malformed header .*'Convolution h w d n s0 s1'"),
    ("SumPool 2 -2 1 1\n", r"line 1: malformed header 'SumPool 2 -2 1 1'"),
    ("Rect\nDropout 0.5\n", r"line 2: unknown layer 'Dropout' \(the LRP Toolbox format knows: Linear, "),
    ("Linear 1 1\nnan\n0\n", r"line 2: the weights of 'Linear 1 1': contains NaN or Inf"),
    ("Linear 2 3\n1 2 3 4 5 6\n0 0 0\nLinear 4 1\n1 2 3 4\n0\n",
     r"layers do not fit together: line 4 \(Dense\) takes 4 channels/features but gets 3"),
    ("Linear 1 1\n1\n0\nSoftMax\nRect\n", r"line 5: layer 'Rect' after the SoftMax"),
    ("\n\n", "no layers"),
])
def test_malformed_files(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ModelFileError, match=message) as info:
        load_lrp_toolbox(path)
    assert str(path) in str(info.value)


def test_binary_and_missing_files(tmp_path):
    path = tmp_path / "bin.txt"
    path.write_bytes(b"Linear 2 3\n\xff\xfe\x00")
    with pytest.raises(ModelFileError, match="not an ASCII text file"):
        load_lrp_toolbox(path)
    with pytest.raises(ModelFileError, match="no such file"):
        load_lrp_toolbox(tmp_path / "missing.txt")
