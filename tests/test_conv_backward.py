"""Conv2d's transpose (the gradient and every rule's step 3) against scipy, on both of its paths.

``Conv2d.linear_backward`` takes one of two routes: for stride 1, images of
at least 2048 positions and no more output than input channels, a convolution of the padded gradient with the flipped
kernel (im2col + one product); otherwise the transposed product folded back by
col2im.  Both must equal the adjoint computed by scipy: the full convolution of
each output channel with its kernel, cropped by the padding.  float64; the sums
differ only in order, so 1e-12 relative.
"""
import numpy as np
import pytest
from scipy import signal

from dtd.layers import Conv2d


def adjoint_reference(weight, g, x_shape, stride, padding):
    """d/dx sum(g * conv(x)) by scipy: upsample g by the stride, full-convolve with each kernel, crop."""
    N, C, H, W = x_shape
    Co, _, kH, kW = weight.shape
    (sH, sW), (pH, pW) = stride, padding
    Ho, Wo = g.shape[2:]
    up = np.zeros((N, Co, sH * (Ho - 1) + 1, sW * (Wo - 1) + 1))
    up[:, :, ::sH, ::sW] = g
    out = np.zeros((N, C, H + 2 * pH, W + 2 * pW))
    for n in range(N):
        for c in range(C):
            full = sum(signal.convolve2d(up[n, o], weight[o, c], mode="full") for o in range(Co))
            out[n, c, :full.shape[0], :full.shape[1]] = full
    return out[:, :, pH:pH + H, pW:pW + W]


@pytest.mark.parametrize("channels", [(3, 2), (2, 3)])  # (C_out, C_in): the flip route needs C_out <= C_in
@pytest.mark.parametrize("side", [8, 48])          # 8x8: the col2im route; 48x48 = 2304 positions: the flip route
@pytest.mark.parametrize("kernel, stride, padding", [
    ((3, 3), (1, 1), (1, 1)), ((2, 3), (1, 1), (0, 1)), ((5, 5), (1, 1), (2, 2)), ((3, 3), (1, 1), (0, 0)),
    ((3, 3), (2, 2), (1, 1)), ((1, 1), (1, 1), (0, 0)),
])
def test_linear_backward_equals_scipy_adjoint(channels, side, kernel, stride, padding):
    rng = np.random.default_rng(side + kernel[1])
    co, ci = channels
    layer = Conv2d(rng.normal(size=(co, ci) + kernel), rng.normal(size=co), stride=stride, padding=padding)
    x_shape = (2, ci, side, side + 1)
    g = rng.normal(size=layer.output_shape(x_shape))
    got = layer.linear_backward(g, layer.weight, x_shape)
    want = adjoint_reference(layer.weight, g, x_shape, stride, padding)
    assert got.shape == x_shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_float32_stays_float32_on_both_routes():
    rng = np.random.default_rng(0)
    layer = Conv2d(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), padding=1)
    for side in (8, 48):
        x = rng.uniform(size=(1, 3, side, side)).astype(np.float32)
        assert layer.backward(x, np.ones(layer.output_shape(x.shape), np.float32)).dtype == np.float32


@pytest.mark.parametrize("limit", [1, 30_000, 400_000])    # 1 byte: one sample a chunk, im2col in fresh memory
def test_batch_chunks_under_a_small_scratch_limit_give_the_same_numbers(monkeypatch, limit):
    """With a small scratch limit (and im2col pieces as small, down to one output row) the convolution
    builds its im2col matrix for a few samples, or a band of rows of one sample, at a time."""
    import dtd.workspace as workspace
    rng = np.random.default_rng(11)
    big = Conv2d(rng.normal(size=(3, 4, 3, 3)), rng.normal(size=3), padding=1)        # flip route at 48x48
    tall = Conv2d(rng.normal(size=(300, 2, 2, 2)), rng.normal(size=300), stride=2)    # stacks per map (>= 256)
    x = rng.normal(size=(5, 4, 48, 48))
    x2 = rng.normal(size=(5, 2, 6, 6))
    ref = [big.forward(x), big.backward(x, np.cos(big.forward(x))), tall.forward(x2),
           tall.backward(x2, np.sin(tall.forward(x2))),
           tall.linear_stack(x2, [(tall.weight, tall.bias), (np.abs(tall.weight), None)])[1]]
    monkeypatch.setattr(workspace, "LIMIT", limit)
    monkeypatch.setattr(workspace, "TILE", limit)
    workspace.release()
    got = [big.forward(x), big.backward(x, np.cos(big.forward(x))), tall.forward(x2),
           tall.backward(x2, np.sin(tall.forward(x2))),
           tall.linear_stack(x2, [(tall.weight, tall.bias), (np.abs(tall.weight), None)])[1]]
    if limit < 400_000:
        assert len(Conv2d._chunks(5, 36, 48 * 48, np.float64)) > 1
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12 * np.abs(r).max())
