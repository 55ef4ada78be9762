"""Tests of dtd.render: colours for known inputs, the scaling rule, layouts, PNG files.

Colours are compared exactly as bytes (the rule floor(255 c + 1/2) is deterministic);
float colours against matplotlib to 1e-12 (both interpolate the same tables in float64).
"""
import colorsys
import os
import stat
import warnings

import numpy as np
import pytest
from PIL import Image

from dtd import render
from dtd.render import get_cmap, grid, heatmap, list_cmaps, normalize, overlay, save_png

SYMMETRIC = ["bwr", "seismic", "coldnhot"]


def hue_deg(rgb):
    h, s, v = colorsys.rgb_to_hsv(*(np.asarray(rgb, float) / 255))
    assert s > 0.2 and v > 0.2, f"{rgb} has no clear hue"
    return 360 * h


# ---------------------------------------------------------------- colormaps

def test_list_and_get():
    assert list_cmaps() == ["bwr", "coldnhot", "gray", "hot", "seismic"]
    for name in list_cmaps():
        assert get_cmap(name).name == name
    assert get_cmap(get_cmap("hot")) is get_cmap("hot")
    with pytest.raises(ValueError, match=r"unknown colormap 'jet'; choose one of bwr, coldnhot, gray, hot, seismic"):
        get_cmap("jet")
    with pytest.raises(ValueError, match="unknown colormap"):
        heatmap(np.ones((2, 2)), cmap="viridis")


@pytest.mark.parametrize("name", ["bwr", "seismic", "gray"])
def test_tables_match_matplotlib(name):
    mpl = pytest.importorskip("matplotlib")
    # At t = k/255 matplotlib's 256-entry lookup table holds the exact interpolant.
    t = np.arange(256) / 255
    ref = mpl.colormaps[name](t)[:, :3]
    np.testing.assert_allclose(get_cmap(name)(t), ref, atol=1e-12)


# ---------------------------------------------------------------- colours

@pytest.mark.parametrize("name,neutral", [("bwr", (255, 255, 255)), ("seismic", (255, 255, 255)),
                                          ("coldnhot", (0, 0, 0)), ("hot", (0, 0, 0)),
                                          ("gray", (0, 0, 0))])
def test_zero_is_neutral(name, neutral):
    R = np.array([[0.0, 1.0], [-1.0, 0.5]])
    assert heatmap(R, name)[0, 0].tolist() == list(neutral)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # no 0/0 anywhere
        img = heatmap(np.zeros((3, 4, 5)), name)        # an all-zero map
    assert img.shape == (4, 5, 3)
    assert (img == np.array(neutral, np.uint8)).all()


@pytest.mark.parametrize("name", SYMMETRIC)
def test_sign_gives_hue(name):
    R = np.array([[0.25, 0.5, 0.75, -0.25, -0.5, -0.75]])
    img = heatmap(R, name, bound=1.0)[0]
    for rgb in img[:3]:                                  # positive: red (to yellow for coldnhot)
        h = hue_deg(rgb)
        assert h < 1e-9 if name != "coldnhot" else 0 <= h <= 60
        assert rgb[0] == max(rgb)
    for rgb in img[3:]:                                  # negative: blue (from cyan for coldnhot)
        h = hue_deg(rgb)
        assert abs(h - 240) < 1e-9 if name != "coldnhot" else 180 <= h <= 240
        assert rgb[2] == max(rgb)


@pytest.mark.parametrize("name,low,high", [
    ("bwr", (0, 0, 255), (255, 0, 0)),
    ("seismic", (0, 0, 77), (128, 0, 0)),        # 0.3 * 255 = 76.5 and 0.5 * 255 = 127.5 round up
    ("coldnhot", (0, 255, 255), (255, 255, 0)),
    ("hot", (0, 0, 0), (255, 255, 255)),
    ("gray", (0, 0, 0), (255, 255, 255)),
])
def test_extremes_give_end_colours(name, low, high):
    rng = np.random.default_rng(0)
    R = rng.normal(size=(8, 8))
    R[2, 3], R[5, 1] = 10.0, -10.0                      # beyond the 99.5th percentile: clipped
    img = heatmap(R, name)
    assert img[2, 3].tolist() == list(high)
    assert img[5, 1].tolist() == list(low)


def test_positive_ramp_of_bwr_is_monotone():
    img = heatmap(np.linspace(0, 1, 50)[None], bound=1.0)[0]
    assert (img[:, 0] == 255).all()
    assert (np.diff(img[:, 1].astype(int)) <= 0).all() and img[-1, 1] == 0
    np.testing.assert_array_equal(img[:, 1], img[:, 2])


# ---------------------------------------------------------------- scaling

def test_percentile_rule_by_hand():
    R = np.arange(1.0, 1001.0).reshape(10, 100)
    # numpy's linear percentile: rank 0.995 * 999 = 994.005 between 995 and 996.
    s = 995.005
    t = normalize(R)
    np.testing.assert_allclose(t, np.minimum(0.5 + 0.5 * R / s, 1.0), rtol=0, atol=1e-15)
    assert (t == 1.0).sum() == 5                        # 996..1000 clip
    np.testing.assert_allclose(normalize(R, percentile=50), np.minimum(0.5 + 0.5 * R / 500.5, 1))
    np.testing.assert_allclose(normalize(R, "hot", percentile=50), np.minimum(R / 500.5, 1))
    np.testing.assert_allclose(normalize(-R, percentile=100), 0.5 - 0.5 * R / 1000)


def test_sparse_map_uses_maximum():
    R = np.zeros((30, 30))                              # 900 values, 2 nonzero: the 99.5th
    R[3, 4] = 2.0                                       # percentile (rank 894.505) is 0
    R[7, 7] = -1.0
    t = normalize(R)
    assert t[3, 4] == 1.0 and t[7, 7] == 0.25 and t[0, 0] == 0.5


def test_scale_is_per_map():
    rng = np.random.default_rng(1)
    R = rng.normal(size=(6, 7))
    imgs = heatmap(np.stack([R, 1e3 * R, 1e-3 * R])[:, None])
    assert imgs.shape == (3, 6, 7, 3)
    np.testing.assert_array_equal(imgs[0], imgs[1])
    np.testing.assert_array_equal(imgs[0], imgs[2])
    np.testing.assert_array_equal(imgs[0], heatmap(R))


def test_extreme_magnitudes():
    big = np.finfo(np.float64).max
    R = np.array([[-big, 0.0, big / 2, big]])
    np.testing.assert_allclose(normalize(R, percentile=100), [[0.0, 0.5, 0.75, 1.0]])
    np.testing.assert_allclose(normalize(R, vmin=-big, vmax=big), [[0.0, 0.5, 0.75, 1.0]])
    tiny = 5e-324                                       # the smallest subnormal
    np.testing.assert_allclose(normalize(np.array([[-tiny, 0.0, tiny]]), percentile=100),
                               [[0.0, 0.5, 1.0]])


def test_explicit_bounds():
    R = np.array([[-3.0, -1.0, 0.0, 1.0, 2.0, 5.0]])
    np.testing.assert_allclose(normalize(R, vmin=-1.0, vmax=3.0), [[0, 0, 0.25, 0.5, 0.75, 1]])
    np.testing.assert_allclose(normalize(R, bound=2.0), [[0, 0.25, 0.5, 0.75, 1, 1]])
    np.testing.assert_allclose(normalize(R, "gray", bound=2.0), [[0, 0, 0, 0.5, 1, 1]])
    with pytest.raises(ValueError, match="vmin and vmax together"):
        normalize(R, vmin=0.0)
    with pytest.raises(ValueError, match="vmin and vmax together"):
        normalize(R, vmin=0.0, vmax=1.0, bound=1.0)
    with pytest.raises(ValueError, match="vmin < vmax"):
        normalize(R, vmin=1.0, vmax=1.0)
    with pytest.raises(ValueError, match="bound must be finite and > 0"):
        normalize(R, bound=0.0)
    with pytest.raises(ValueError, match=r"percentile must be in \(0, 100\]"):
        normalize(R, percentile=0)


def test_channels_are_summed_and_batches():
    rng = np.random.default_rng(2)
    R = rng.normal(size=(4, 3, 5, 6))
    batch = heatmap(R, "seismic")
    for n in range(4):
        np.testing.assert_array_equal(batch[n], heatmap(R[n], "seismic"))
        np.testing.assert_array_equal(batch[n], heatmap(R[n].sum(0), "seismic"))
    np.testing.assert_array_equal(heatmap(R.sum(1), "seismic", batched=True), batch)
    # A 3-D array is (C, H, W) unless batched=True.
    assert heatmap(R[0]).shape == (5, 6, 3)
    assert heatmap(R[0], batched=True).shape == (3, 5, 6, 3)


def test_dtypes():
    rng = np.random.default_rng(3)
    R = rng.normal(size=(16, 16))
    # float32 rounding (relative 6e-8) can move a colour across one byte boundary at most.
    diff = np.abs(heatmap(R.astype(np.float32)).astype(int) - heatmap(R).astype(int))
    assert diff.max() <= 1
    Ri = rng.integers(-5, 6, size=(4, 4))
    np.testing.assert_array_equal(heatmap(Ri), heatmap(Ri.astype(float)))


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize("bad,match", [(np.nan, "relevance contains NaN"),
                                       (np.inf, "relevance contains Inf"),
                                       (-np.inf, "relevance contains Inf")])
def test_nonfinite(bad, match):
    R = np.zeros((3, 3))
    R[1, 2] = bad
    with pytest.raises(ValueError, match=match):
        heatmap(R)


@pytest.mark.parametrize("shape", [(5,), (1, 2, 3, 4, 5), ()])
def test_wrong_rank(shape):
    with pytest.raises(ValueError, match=r"must have shape .*got shape " + repr(shape).replace("(", r"\(").replace(")", r"\)")):
        heatmap(np.zeros(shape))
    with pytest.raises(ValueError, match=r"\(N, H, W\) or \(N, C, H, W\), got shape \(3, 4\)"):
        heatmap(np.zeros((3, 4)), batched=True)
    with pytest.raises(ValueError, match="empty"):
        heatmap(np.zeros((0, 4)))


@pytest.mark.parametrize("bad", [np.array([["a", "b"]]), np.zeros((2, 2), bool),
                                 np.zeros((2, 2), complex), np.zeros((2, 2), object)])
def test_non_numeric(bad):
    with pytest.raises(TypeError, match="real numeric array"):
        heatmap(bad)


# ---------------------------------------------------------------- overlay

def test_overlay_blend():
    rng = np.random.default_rng(4)
    R = rng.normal(size=(5, 7))
    hwc = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    # alpha = 0 is the grayscale image; Pillow's integer luma agrees to one level.
    pil_gray = np.asarray(Image.fromarray(hwc).convert("L")).astype(int)
    gray = overlay(R, hwc, alpha=0.0)
    assert np.abs(gray[..., 0].astype(int) - pil_gray).max() <= 1
    assert (gray == gray[..., :1]).all()
    # alpha = 1 is the heatmap.
    np.testing.assert_array_equal(overlay(R, hwc, alpha=1.0, cmap="coldnhot"), heatmap(R, "coldnhot"))
    # In between: the formula, from independently computed parts.
    g = hwc @ np.array([0.299, 0.587, 0.114]) / 255
    col = get_cmap("bwr")(normalize(R))
    ref = np.floor(255 * (0.7 * g[..., None] + 0.3 * col) + 0.5)
    np.testing.assert_array_equal(overlay(R, hwc, alpha=0.3), ref)
    # Layouts and dtypes of the image give the same result.
    for img in [hwc.transpose(2, 0, 1), hwc / 255.0, hwc.transpose(2, 0, 1) / 255.0]:
        np.testing.assert_array_equal(overlay(R, img, alpha=0.3), ref)
    g1 = (g * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(overlay(R, g1, alpha=0.3), overlay(R, g1[None], alpha=0.3))
    np.testing.assert_array_equal(overlay(R, g1, alpha=0.3), overlay(R, g1[..., None], alpha=0.3))


def test_overlay_batch_and_errors():
    rng = np.random.default_rng(5)
    R = rng.normal(size=(2, 3, 4, 4))
    imgs = rng.random(size=(2, 3, 4, 4))
    out = overlay(R, imgs, alpha=0.5)
    assert out.shape == (2, 4, 4, 3)
    for n in range(2):
        np.testing.assert_array_equal(out[n], overlay(R[n], imgs[n], alpha=0.5))
    with pytest.raises(ValueError, match=r"does not fit relevance maps of shape \(2, 4, 4\)"):
        overlay(R, imgs[0], alpha=0.5)
    with pytest.raises(ValueError, match="does not fit"):
        overlay(R[0], np.zeros((3, 5, 4)))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        overlay(R[0], imgs[0] - 0.5)
    with pytest.raises(ValueError, match="image contains NaN"):
        overlay(R[0], np.full((4, 4), np.nan))
    with pytest.raises(TypeError, match="uint8 or float"):
        overlay(R[0], np.zeros((4, 4), np.int64))
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        overlay(R[0], imgs[0], alpha=1.5)


# ---------------------------------------------------------------- grid

def _cells(n=5, h=6, w=9):
    rng = np.random.default_rng(6)
    return [rng.integers(0, 200, size=(h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_grid_layout():
    cells = _cells()
    out = grid(cells, ncols=2, pad=3)
    # 5 images in 2 columns: 3 rows.
    assert out.shape == (3 * 6 + 4 * 3, 2 * 9 + 3 * 3, 3)
    for i, im in enumerate(cells):
        y, x = 3 + (i // 2) * (6 + 3), 3 + (i % 2) * (9 + 3)
        np.testing.assert_array_equal(out[y:y + 6, x:x + 9], im)
    assert (out[-9:, 12:] == 255).all()                 # the empty sixth cell
    assert grid(cells).shape == (2 * 6 + 3 * 4, 3 * 9 + 4 * 4, 3)   # ncols = ceil(sqrt(5)) = 3
    assert grid(np.stack(cells), ncols=5, pad=0).shape == (6, 45, 3)
    # Mixed sizes: cells as large as the largest image, smaller ones centred.
    small = np.zeros((2, 3), np.uint8)
    out = grid([cells[0], small], ncols=2, pad=1)
    assert out.shape == (6 + 2, 2 * 9 + 3, 3)
    np.testing.assert_array_equal(out[1 + 2:1 + 4, 11 + 3:11 + 6], 0)
    assert (out[1:7, 11:20].astype(int).sum(-1) == 0).sum() == 6


def test_grid_captions():
    cells = _cells(3, h=20, w=40)
    out = grid(cells, ["LRP-0", "", "a caption far too long for this narrow cell"],
               ncols=3, pad=2, caption_height=15)
    assert out.shape == (20 + 15 + 2 * 2, 3 * 40 + 4 * 2, 3)
    band = out[2 + 20:2 + 20 + 15]
    assert (band[:, 2:42] < 128).any()                  # text drawn under the first image
    assert (band[:, 44:84] == 255).all()                # nothing under the second (empty caption)
    assert (band[:, 86:126] < 128).any()                # the long one is drawn ...
    assert (band[:, 84:86] == 255).all() and (band[:, 126:] == 255).all()   # ... inside its cell
    auto = grid(cells, ["x", "y", "z"])
    assert auto.shape[0] > grid(cells).shape[0]


def test_grid_errors():
    with pytest.raises(ValueError, match="at least one image"):
        grid([])
    with pytest.raises(ValueError, match="2 captions for 3 images"):
        grid(_cells(3), ["a", "b"])
    with pytest.raises(TypeError, match="dtype float64"):
        grid([np.zeros((2, 2, 3))])
    with pytest.raises(ValueError, match=r"shape \(H, W, 3\) or \(H, W\), got \(2, 2, 4\)"):
        grid([np.zeros((2, 2, 4), np.uint8)])
    with pytest.raises(ValueError, match="ncols >= 1 and pad >= 0"):
        grid(_cells(2), ncols=0)


# ---------------------------------------------------------------- PNG

@pytest.mark.parametrize("shape,mode", [((7, 11, 3), "RGB"), ((7, 11), "L"), ((7, 11, 4), "RGBA")])
def test_png_round_trip(tmp_path, shape, mode):
    arr = np.random.default_rng(7).integers(0, 256, size=shape, dtype=np.uint8)
    out = save_png(arr, tmp_path / "a.png")
    assert out == tmp_path / "a.png"
    assert os.listdir(tmp_path) == ["a.png"]            # no temporary file left
    with Image.open(out) as im:
        assert im.format == "PNG" and im.mode == mode and im.size == (11, 7)
        np.testing.assert_array_equal(np.asarray(im), arr)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o666 & ~umask


def test_png_of_heatmap_and_grid(tmp_path):
    img = grid([heatmap(np.eye(4)), heatmap(-np.eye(4))], ["+", "-"])
    save_png(img, str(tmp_path / "g.png"))
    with Image.open(tmp_path / "g.png") as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), img)


def test_png_overwrite(tmp_path):
    path = tmp_path / "input.png"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="input.png exists"):
        save_png(np.zeros((2, 2), np.uint8), path, overwrite=False)
    assert path.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["input.png"]
    save_png(np.zeros((2, 2), np.uint8), tmp_path / "new.png", overwrite=False)
    save_png(np.zeros((2, 3), np.uint8), path)           # overwrite=True by default
    with Image.open(path) as im:
        assert im.size == (3, 2)
    assert sorted(os.listdir(tmp_path)) == ["input.png", "new.png"]


def test_png_failed_write_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "out.png"
    path.write_bytes(b"old")

    def broken(self, fp, *a, **k):
        fp.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_png(np.zeros((2, 2, 3), np.uint8), path)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.png"]


def test_png_errors(tmp_path):
    with pytest.raises(TypeError, match="uint8"):
        save_png(np.zeros((2, 2, 3)), tmp_path / "f.png")
    with pytest.raises(ValueError, match=r"got \(2, 2, 2\)"):
        save_png(np.zeros((2, 2, 2), np.uint8), tmp_path / "f.png")
    assert os.listdir(tmp_path) == []



def test_png_no_overwrite_race(tmp_path, monkeypatch):
    # Another writer creates the path after the first check: still never replaced.
    path = tmp_path / "race.png"
    save = Image.Image.save

    def racing(self, fp, *a, **k):
        path.write_bytes(b"theirs")
        return save(self, fp, *a, **k)

    monkeypatch.setattr(Image.Image, "save", racing)
    with pytest.raises(FileExistsError, match="race.png exists"):
        save_png(np.zeros((2, 2), np.uint8), path, overwrite=False)
    assert path.read_bytes() == b"theirs"
    assert os.listdir(tmp_path) == ["race.png"]
