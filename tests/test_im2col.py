"""dtd.im2col against naive loop references (kept here, as the module docstring says).

``windows`` and ``fold`` only copy and add numbers, so the loop references must
agree exactly (``assert_array_equal``; ``fold`` adds the same terms, possibly in
another order, so it is compared to 1e-15 relative).  ``fold`` is also checked
as the adjoint of ``windows``: ``<windows(x), c> == <x, fold(c)>``.
"""
import itertools

import numpy as np
import pytest

from dtd.im2col import fold, im2col, output_size, pad, windows

GEOMETRIES = [
    # (H, W), (kH, kW), (sH, sW)
    ((5, 5), (3, 3), (1, 1)),
    ((6, 7), (2, 3), (2, 1)),
    ((7, 6), (3, 2), (2, 3)),
    ((4, 4), (4, 4), (1, 1)),
    ((5, 8), (1, 2), (3, 2)),
    ((6, 6), (2, 2), (2, 2)),
]


def windows_loop(x, kernel, stride):
    """Naive reference: one slice per output position."""
    N, C, H, W = x.shape
    (kH, kW), (sH, sW) = kernel, stride
    Ho, Wo = (H - kH) // sH + 1, (W - kW) // sW + 1
    out = np.empty((N, C, Ho, Wo, kH, kW), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * sH:i * sH + kH, j * sW:j * sW + kW]
    return out


def fold_loop(cols, shape, stride):
    """Naive reference: every window entry added back to its input position, one at a time."""
    N, C, Ho, Wo, kH, kW = cols.shape
    sH, sW = stride
    out = np.zeros(shape, dtype=cols.dtype)
    for i, j, a, b in itertools.product(range(Ho), range(Wo), range(kH), range(kW)):
        out[:, :, i * sH + a, j * sW + b] += cols[:, :, i, j, a, b]
    return out


@pytest.mark.parametrize("size, kernel, stride", GEOMETRIES)
def test_windows_equals_loop(size, kernel, stride):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3) + size)
    got = windows(x, kernel, stride)
    np.testing.assert_array_equal(got, windows_loop(x, kernel, stride))
    Ho, Wo = (output_size(s, k, st) for s, k, st in zip(size, kernel, stride))
    assert got.shape == (2, 3, Ho, Wo) + kernel


def test_windows_is_a_view():
    x = np.arange(2 * 1 * 5 * 5, dtype=np.float64).reshape(2, 1, 5, 5)
    v = windows(x, (3, 3), (1, 1))
    assert np.shares_memory(v, x)


@pytest.mark.parametrize("size, kernel, stride", GEOMETRIES)
def test_fold_equals_loop(size, kernel, stride):
    rng = np.random.default_rng(1)
    shape = (2, 3) + size
    Ho, Wo = (output_size(s, k, st) for s, k, st in zip(size, kernel, stride))
    cols = rng.normal(size=(2, 3, Ho, Wo) + kernel)
    np.testing.assert_allclose(fold(cols, shape, stride), fold_loop(cols, shape, stride), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("size, kernel, stride", GEOMETRIES)
def test_fold_is_adjoint_of_windows(size, kernel, stride):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 2) + size)
    w = windows(x, kernel, stride)
    c = rng.normal(size=w.shape)
    lhs = np.sum(w * c)
    rhs = np.sum(x * fold(c, x.shape, stride))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)


def test_fold_counts_window_membership():
    # folding ones counts how many windows cover each position: check against a direct count
    shape, kernel, stride = (1, 1, 7, 6), (3, 2), (2, 2)
    Ho, Wo = output_size(7, 3, 2), output_size(6, 2, 2)
    count = fold(np.ones((1, 1, Ho, Wo) + kernel), shape, stride)[0, 0]
    expect = np.zeros((7, 6))
    for r in range(7):
        for c in range(6):
            expect[r, c] = sum(1 for i in range(Ho) for j in range(Wo)
                               if 2 * i <= r < 2 * i + 3 and 2 * j <= c < 2 * j + 2)
    np.testing.assert_array_equal(count, expect)


def test_fold_preserves_float32():
    cols = np.ones((1, 1, 2, 2, 2, 2), dtype=np.float32)
    assert fold(cols, (1, 1, 3, 3), (1, 1)).dtype == np.float32


def test_output_size_formula_and_error():
    for size, k, s, p in itertools.product(range(1, 9), range(1, 5), range(1, 4), range(0, 3)):
        if size + 2 * p >= k:
            # number of start positions 0, s, 2s, ... with start + k <= size + 2p
            expect = len(range(0, size + 2 * p - k + 1, s))
            assert output_size(size, k, s, p) == expect
        else:
            with pytest.raises(ValueError, match=rf"kernel {k} with padding {p} does not fit an input of size {size}"):
                output_size(size, k, s, p)


def test_pad():
    x = np.arange(6.0).reshape(1, 1, 2, 3)
    got = pad(x, (1, 2), value=-7.0)
    assert got.shape == (1, 1, 4, 7)
    np.testing.assert_array_equal(got[0, 0, 1:3, 2:5], x[0, 0])
    mask = np.ones((4, 7), bool)
    mask[1:3, 2:5] = False
    assert np.all(got[0, 0][mask] == -7.0)
    assert pad(x, (0, 0)) is x


def im2col_loop(x, kernel, stride):
    """Naive reference of the conv matrix: row (c, a, b), column (i, j) holds x[c, i*sH + a, j*sW + b]."""
    N, C, H, W = x.shape
    (kH, kW), (sH, sW) = kernel, stride
    Ho, Wo = (H - kH) // sH + 1, (W - kW) // sW + 1
    out = np.empty((N, C * kH * kW, Ho * Wo), dtype=x.dtype)
    for c, a, b, i, j in itertools.product(range(C), range(kH), range(kW), range(Ho), range(Wo)):
        out[:, (c * kH + a) * kW + b, i * Wo + j] = x[:, c, i * sH + a, j * sW + b]
    return out


@pytest.mark.parametrize("size, kernel, stride", GEOMETRIES)
def test_im2col_equals_loop_and_col2im_is_its_adjoint(size, kernel, stride):
    from dtd.im2col import col2im, im2col
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3) + size)
    cols = im2col(x, kernel, stride)
    np.testing.assert_array_equal(cols, im2col_loop(x, kernel, stride))
    assert cols.flags.c_contiguous
    c = rng.normal(size=cols.shape)
    back = col2im(c, x.shape, kernel, stride)
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * back), rtol=1e-12)
    # col2im adds each entry to the position im2col read it from (loop reference)
    ref = np.zeros_like(x)
    N, C, H, W = x.shape
    (kH, kW), (sH, sW) = kernel, stride
    Ho, Wo = (H - kH) // sH + 1, (W - kW) // sW + 1
    for cc, a, b, i, j in itertools.product(range(C), range(kH), range(kW), range(Ho), range(Wo)):
        ref[:, cc, i * sH + a, j * sW + b] += c[:, (cc * kH + a) * kW + b, i * Wo + j]
    np.testing.assert_allclose(back, ref, rtol=1e-15, atol=1e-15)


def test_im2col_into_a_slice_of_a_larger_buffer():
    """``out=`` may be a slice of a buffer with more rows (the convolution's bias row); same values."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 5, 6))
    want = im2col(x, (2, 3), (1, 2))
    buf = np.full((2, want.shape[1] + 1, want.shape[2]), np.nan)
    got = im2col(x, (2, 3), (1, 2), out=buf[:, :-1])
    assert np.shares_memory(got, buf)
    np.testing.assert_array_equal(buf[:, :-1], want)
    assert np.isnan(buf[:, -1]).all()                   # the extra row is left alone
    with pytest.raises(ValueError, match="out must have shape"):
        im2col(x, (2, 3), (1, 2), out=np.empty((2, want.shape[1] - 1, want.shape[2])))


def test_pad_into_a_buffer_matches_np_pad():
    x = np.random.default_rng(4).normal(size=(2, 3, 4, 5))
    buf = np.full((2, 3, 4 + 2, 5 + 6), np.nan)
    np.testing.assert_array_equal(pad(x, (1, 3), out=buf), np.pad(x, ((0, 0), (0, 0), (1, 1), (3, 3))))


def correlate_loop(x, kernel, stride, w, ones_row):
    """Naive reference: each output position's window times the weights, one position at a time."""
    N, C, H, W = x.shape
    (kH, kW), (sH, sW) = kernel, stride
    Ho, Wo = (H - kH) // sH + 1, (W - kW) // sW + 1
    out = np.empty((N, w.shape[0], Ho * Wo))
    for i, j in itertools.product(range(Ho), range(Wo)):
        patch = x[:, :, i * sH:i * sH + kH, j * sW:j * sW + kW].reshape(N, -1)
        if ones_row:
            patch = np.concatenate([patch, np.ones((N, 1))], axis=1)
        out[:, :, i * Wo + j] = patch @ w.T
    return out


@pytest.mark.parametrize("limit", [1, 200, 2_000, 10 ** 9])   # bands of one row .. the whole batch in one piece
@pytest.mark.parametrize("size, kernel, stride", GEOMETRIES)
@pytest.mark.parametrize("ones_row", [False, True])
def test_correlate_equals_loop_whatever_the_pieces(monkeypatch, limit, size, kernel, stride, ones_row):
    """correlate cuts the im2col matrix into pieces (samples, or bands of output rows); the numbers
    must not depend on the cut (same products over the same K terms: 1e-13 relative)."""
    import dtd.workspace as workspace
    from dtd.im2col import correlate, tiles
    monkeypatch.setattr(workspace, "TILE", limit)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 2) + size)
    K = 2 * kernel[0] * kernel[1]
    ws = [rng.normal(size=(4, K + ones_row)), rng.normal(size=(1, K + ones_row))]
    Ho, Wo = (output_size(s, k, st) for s, k, st in zip(size, kernel, stride))
    outs = [np.full((3, w.shape[0], Ho * Wo), np.nan) for w in ws]
    correlate(x, kernel, stride, ws, outs, ones_row=ones_row)
    for w, out in zip(ws, outs):
        np.testing.assert_allclose(out, correlate_loop(x, kernel, stride, w, ones_row), rtol=1e-13, atol=1e-13)
    pieces = tiles(3, Ho, (K + ones_row) * Wo * 8)
    covered = np.zeros((3, Ho), int)
    for s, r in pieces:
        covered[s, r] += 1
    assert (covered == 1).all()                       # every output row of every sample exactly once
    if limit == 1:
        assert len(pieces) == 3 * Ho                  # one row a piece
    if limit == 10 ** 9:
        assert len(pieces) == 1


def test_correlate_keeps_float32():
    from dtd.im2col import correlate
    x = np.ones((1, 2, 5, 5), np.float32)
    out = np.empty((1, 3, 9), np.float32)
    correlate(x, (3, 3), (1, 1), [np.ones((3, 18), np.float32)], [out])
    assert out.dtype == np.float32 and (out == 18).all()
