"""Linear layers written out as explicit dense matrices, by plain loops.

Independent of the im2col code: each entry is placed by the definition of the
layer (cross-correlation with zero padding, which may differ at the two ends of an
axis; a window of a pooling layer).  The padded positions are not inputs: a
window entry that falls on one has no column.
"""
import numpy as np

from dtd.layers import AvgPool2d, Conv2d, Dense, GroupedConv2d, SumPool2d


def dense_matrix(layer, input_shape):
    """``(W, b, connected)`` with ``W`` of shape (out, in) such that
    ``layer.forward(x).reshape(N, -1) == x.reshape(N, -1) @ W.T + b``.

    ``connected[j, i]`` is True where input i enters output j (even if the weight is 0).
    """
    if isinstance(layer, Dense):
        W = layer.weight.copy()
        return W, layer.bias.copy(), np.ones(W.shape, bool)
    C, H, Wd = input_shape
    if isinstance(layer, GroupedConv2d):
        # output o sees input channels [k ci, (k+1) ci) of its group k = o // (Co / groups), through weight[o]
        Co, ci, kH, kW = layer.weight.shape
        Ci, per_group = ci * layer.groups, Co // layer.groups
        weight, bias = np.zeros((Co, Ci, kH, kW)), layer.bias
        member = np.zeros((Co, Ci), bool)
        for o in range(Co):
            k = o // per_group
            weight[o, k * ci:(k + 1) * ci] = layer.weight[o]
            member[o, k * ci:(k + 1) * ci] = True
    elif isinstance(layer, Conv2d):
        Co, Ci, kH, kW = layer.weight.shape
        weight, bias = layer.weight, layer.bias
        member = np.ones((Co, Ci), bool)
    elif isinstance(layer, SumPool2d):  # AvgPool2d is a subclass
        Co, Ci = C, C
        kH, kW = layer.kernel_size
        value = 1.0 / (kH * kW) if isinstance(layer, AvgPool2d) else 1.0
        weight = np.zeros((C, C, kH, kW))
        for c in range(C):
            weight[c, c] = value
        bias = np.zeros(C)
        member = np.eye(C, dtype=bool)
    else:
        raise TypeError(type(layer))
    sH, sW = layer.stride
    if isinstance(layer, Conv2d):
        pH, pW, pB, pR = layer.pads          # (top, left, bottom, right), possibly asymmetric
    else:
        (pH, pW), (pB, pR) = layer.padding, layer.padding
    Ho = (H + pH + pB - kH) // sH + 1
    Wo = (Wd + pW + pR - kW) // sW + 1
    W = np.zeros((Co, Ho, Wo, Ci, H, Wd))
    conn = np.zeros(W.shape, bool)
    for o in range(Co):
        for i in range(Ho):
            for j in range(Wo):
                for c in range(Ci):
                    if not member[o, c]:
                        continue
                    for a in range(kH):
                        for b in range(kW):
                            r, s = i * sH + a - pH, j * sW + b - pW
                            if 0 <= r < H and 0 <= s < Wd:
                                W[o, i, j, c, r, s] = weight[o, c, a, b]
                                conn[o, i, j, c, r, s] = True
    n_out = Co * Ho * Wo
    b_full = np.repeat(bias, Ho * Wo)
    return W.reshape(n_out, -1), b_full, conn.reshape(n_out, -1)
