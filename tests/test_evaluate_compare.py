"""compare / evaluate_method: every table value equals the separate check functions; tables, figures, files."""
import csv
import io
import os

import numpy as np
import pytest

import dtd
from dtd import composites
from dtd.evaluate import (compare, conservation, continuity, evaluate_method, pixel_flipping, positivity,
                          methods, table)
from dtd.evaluate.figures import PALETTE, auto_zoom, curve_plot, input_image, zoom
from dtd.evaluate.files import save_npy, write_text
from dtd.examples import make_demo_inputs, make_demo_network

FLIP = dict(region=4, steps=8, per_step=2)                     # 16 regions of 4x4: small and fast


@pytest.fixture(scope="module")
def demo():
    return make_demo_network(), make_demo_inputs()


@pytest.fixture(scope="module")
def result(demo):
    net, x = demo
    return compare(net, x, ["lrp-0", "epsilon", "dtd", "sensitivity"], box=(0.0, 1.0),
                   flipping_options=FLIP, continuity_options=dict(n_noise=2))


def test_table_values_equal_the_separate_functions(demo, result):
    net, x = demo
    out = net.forward(x)
    t = out.argmax(axis=1)
    fc = out[np.arange(3), t]
    explainers = {"lrp-0": lambda x, t: net.explain(x, dtd.rules.Epsilon(0.0), target=t),
                  "epsilon": lambda x, t: net.explain(x, dtd.rules.Epsilon(0.25), target=t),
                  "dtd": lambda x, t: net.explain(x, composites.DTD(low=0.0, high=1.0), target=t),
                  "sensitivity": lambda x, t: dtd.sensitivity(net, x, t)}
    rows = result.rows()
    assert [r["method"] for r in rows] == [m for m in explainers for _ in range(3)]
    rand = pixel_flipping(net, x, np.zeros_like(x), t, order="random", **FLIP)
    for m, explain in explainers.items():
        R = explain(x, t)
        np.testing.assert_array_equal(result.evaluations[m].relevance, R)
        c, p = conservation(R, fc), positivity(R)
        cont = continuity(explain, x, t, n_noise=2, clip=(0.0, 1.0))
        most = pixel_flipping(net, x, R, t, order="most", **FLIP)
        least = pixel_flipping(net, x, R, t, order="least", **FLIP)
        for n, row in enumerate(r for r in rows if r["method"] == m):
            assert row["sample"] == n and row["target"] == t[n] and row["f_c"] == fc[n]
            assert row["sum_R"] == c.total[n] and row["conservation_error"] == c.error[n]
            assert row["negative_share"] == p.share[n] and row["negative_mass"] == p.negative[n]
            assert row["continuity"] == cont.value[n]
            assert (row["auc_most"], row["aopc_most"]) == (most.auc[n], most.aopc[n])
            assert (row["auc_least"], row["aopc_least"]) == (least.auc[n], least.aopc[n])
            assert (row["auc_random"], row["aopc_random"]) == (rand.auc[n], rand.aopc[n])
    summary = result.summary()
    assert [r["method"] for r in summary] == list(explainers)
    dtd_rows = [r for r in rows if r["method"] == "dtd"]
    assert summary[2]["conservation_error"] == pytest.approx(np.mean([r["conservation_error"] for r in dtd_rows]))


def test_known_properties_show_in_the_table(result):
    s = {r["method"]: r for r in result.summary()}
    # the DTD training-free model on a ReLU net with b <= 0: conservative and positive (DESIGN.md)
    assert s["dtd"]["conservation_error"] < 1e-12 and s["dtd"]["negative_share"] == 0.0
    assert s["sensitivity"]["negative_share"] == 0.0            # squares
    assert s["lrp-0"]["negative_share"] > 0


def test_evaluate_method_with_a_callable_and_defaults(demo):
    net, x = demo
    ev = evaluate_method(net, x[:1], lambda x, t: dtd.gradient_x_input(net, x, t), name="gxi",
                         flipping_options=dict(region=8), continuity_options=dict(n_noise=0))
    assert set(ev.flipping) == {"most", "least", "random"}
    row = ev.rows()[0]
    assert row["method"] == "gxi" and row["auc_random"] == ev.flipping["random"].auc[0]
    ref = evaluate_method(net, x[:1], "gradient-x-input", flipping_options=dict(region=8),
                          continuity_options=dict(n_noise=0))
    assert {k: v for k, v in ref.rows()[0].items() if k != "method"} == \
           {k: v for k, v in row.items() if k != "method"}


def test_grid_layout(demo, result):
    from dtd.render import grid
    net, x = demo
    img = result.grid(x, zoom=2)
    cells = [np.zeros((32, 32, 3), np.uint8)] * (3 * 5)                 # 3 inputs x (input + 4 methods)
    assert img.shape == grid(cells, ["c"] * 15, ncols=5).shape
    assert result.grid(zoom=1, captions=False).shape == grid([cells[0][:16, :16]] * 12, ncols=4).shape
    # the dtd column of input 0 equals the heatmap of its relevance, zoomed
    from dtd.render import heatmap
    hm = zoom(heatmap(result.evaluations["dtd"].relevance[0]), 2)
    pad = 4
    y0, x0 = pad, pad + 3 * (32 + pad)                                     # row 0, column 3
    np.testing.assert_array_equal(img[y0:y0 + 32, x0:x0 + 32], hm)


def test_curve_plot_of_a_comparison(result):
    img = result.curve_plot("least", size=(500, 300))
    assert img.shape == (300, 500, 3)
    for color in PALETTE[:5]:                                             # 4 methods and random
        assert (img == color).all(axis=-1).any()


def test_compare_errors(demo):
    net, x = demo
    with pytest.raises(ValueError, match="unknown method 'lrp-42'"):
        compare(net, x, ["lrp-42"])
    with pytest.raises(ValueError, match="methods repeat"):
        compare(net, x, ["dtd", "dtd"])
    with pytest.raises(ValueError, match="not compared: zplus"):
        compare(net, x, ["dtd"], params={"zplus": {}})
    with pytest.raises(ValueError, match="takes no parameters"):
        methods.method(net, "sensitivity", epsilon=1.0)
    with pytest.raises(ValueError, match="may not set 'order'"):
        compare(net, x, ["dtd"], flipping_options=dict(order="most"))


def test_method_names_and_box_methods():
    assert methods.names() == composites.names() + ["sensitivity", "gradient-x-input"]
    # BOX_METHODS lists exactly the composites that take low/high
    for name in composites.names():
        try:
            composites.get(name, low=0.0, high=1.0)
            takes_box = True
        except ValueError:
            takes_box = False
        assert takes_box == (name in methods.BOX_METHODS), name


def test_csv_round_trip_and_markdown():
    rows = [{"method": "a", "x": 0.1 + 0.2, "y": 1}, {"method": "b|c", "x": float("nan")}]
    text = table.to_csv(rows)
    back = list(csv.DictReader(io.StringIO(text)))
    assert float(back[0]["x"]) == 0.1 + 0.2 and back[1]["y"] == ""
    md = table.to_markdown(rows, digits=3)
    assert md.splitlines() == ["| method | x | y |", "|---|---|---|", "| a | 0.3 | 1 |", "| b\\|c | - | - |"]


def test_files_are_written_atomically(tmp_path):
    p = write_text(tmp_path / "a.md", "hello")
    assert p.read_text() == "hello"
    save_npy(tmp_path / "r.npy", np.arange(3.0))
    np.testing.assert_array_equal(np.load(tmp_path / "r.npy", allow_pickle=False), np.arange(3.0))
    with pytest.raises(FileExistsError):
        write_text(tmp_path / "a.md", "x", overwrite=False)
    with pytest.raises(TypeError, match="object arrays"):
        save_npy(tmp_path / "o.npy", np.array([None]))
    assert sorted(os.listdir(tmp_path)) == ["a.md", "r.npy"]             # no temporary files left
    assert (tmp_path / "a.md").read_text() == "hello"


def test_figures_helpers():
    img = input_image(np.array([[[[0.0, 1.0]], [[0.0, 0.5]], [[1.0, 0.0]]]]))   # RGB (1, 3, 1, 2)
    assert img.tolist() == [[[[0, 0, 255], [255, 128, 0]]]]
    assert auto_zoom(16, 16) == 8 and auto_zoom(300, 10) == 1
    with pytest.raises(ValueError, match="zoom factor"):
        zoom(img, 0)
    # a falling line: its colour is higher up on the left than on the right
    plot = curve_plot({"f": [1.0, 0.0]}, size=(300, 200))
    ys, xs = np.nonzero((plot == PALETTE[0]).all(axis=-1))
    left, right = ys[xs < 100].mean(), ys[(xs > 150) & (xs < 200)].mean()   # the legend is further right
    assert left + 30 < right
    with pytest.raises(ValueError, match="equal, non-zero length"):
        curve_plot({"f": ([0.0, 1.0], [1.0])})


def test_float32_inputs_agree_with_float64(demo):
    net, x = demo
    opts = dict(box=(0.0, 1.0), flipping_options=dict(region=4), continuity_options=dict(n_noise=1))
    r32 = compare(net, x.astype(np.float32), ["dtd", "gamma", "sensitivity"], **opts)
    r64 = compare(net, x, ["dtd", "gamma", "sensitivity"], **opts)
    assert r32.evaluations["dtd"].relevance.dtype == np.float32
    for a, b in zip(r32.rows(), r64.rows()):
        for k in ("f_c", "sum_R", "negative_share", "continuity", "auc_most", "aopc_least", "auc_random"):
            # float32 rounding (~1e-7 relative) through 8 layers; continuity divides by a small |dx|
            # (measured: sensitivity's continuity differs by 2.3e-4 relative on one sample, with numpy 2.4)
            rel = 1e-3 if k == "continuity" else 1e-4
            assert a[k] == pytest.approx(b[k], rel=rel, abs=1e-5), k
