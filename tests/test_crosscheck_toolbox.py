"""dtd's mapping of the LRP Toolbox (``dtd.conformance.peers.lrp_toolbox``) against the Toolbox's own relevances.

The arrays in ``data/golden/peers/toolbox/`` were made by running the LRP
Toolbox (github.com/sebastian-lapuschkin/lrp_toolbox, commit in
``versions.json``; its Python code with NumPy) through
``python -m dtd.conformance.peers_export --peer toolbox`` on three models: its
LeNet-5 (``LeNet-5.txt``: Convolution, Rect, SumPool 2 x 2), a small seeded
model with a ``MaxPool`` (``maxpool-net.txt``) and one with a stride-2
Convolution, SumPool 3 x 3, Linear, Tanh and a SoftMax that the reader strips
(``linear-net.txt``), for the first 8 MNIST test digits (``dtd.datasets``)
scaled to [-1, 1] and padded with -1 to 32 x 32 (as the Toolbox's demo).
The rules: 'simple', 'epsilon' 0.01, 'alphabeta' 2, 'ww', 'flat' (on the MaxPool
model 'ww' and 'flat' are in ``extra.npz``).  No Toolbox is needed here.

Tolerance: 1e-10 relative (max abs difference / max abs of the Toolbox's
relevance) in float64, the issue's target; measured 1.8e-16 to 2.3e-15 for every
rule on the three models (the remaining difference is summation order).  The
``maxpool-net`` inputs contain 1860 max-pooling windows with tied positive
maxima (the constant -1 border), so the equal split of ties is exercised:
sending a tie to the first maximum instead is 0.2 to 0.9 off.  The previously
documented SumPool mapping (``Epsilon(e)`` on the scaled pooling) is 2.5e-2
off for ``'epsilon', 0.01``, checked below so that these arrays are known to
tell the two apart.  float32 (input cast, the
stored arrays are float64): 1e-5, the issue's target; measured 1.3e-7 to 1.1e-6.

``extra.npz`` (``peers_export --peer toolbox --extra``, on the same inputs): 'alphabeta' 1
(dtd's ``AlphaBeta(1, 0, epsilon=1e-16)``, b+ in the denominator) and 'epsilon' 0.1 on the two
seeded models, 'ww' and 'flat' on the MaxPool model (its MaxPool spreads R over the window: dtd's
``Flat()`` on ``MaxPool2d``); measured in the test's output.
"""
import json
import os

import numpy as np
import pytest

from dtd.conformance.peers import TOOLBOX_NAMES, lrp_toolbox
from dtd.io.toolbox import load_lrp_toolbox
from dtd.layers import Conv2d, Flatten, ReLU, ScaledSumPool2d
from dtd.network import Sequential
from dtd.rules import Epsilon, Flat, WinnerTakeAll

HERE = os.path.join(os.path.dirname(__file__), os.pardir, "data", "golden", "peers", "toolbox")
MODELS = {"lenet5": "LeNet-5.txt", "maxpool-net": "maxpool-net.txt", "linear-net": "linear-net.txt"}
ALL = (("simple", None), ("epsilon", 0.01), ("alphabeta", 2.0), ("ww", None), ("flat", None))
CASES = [("lenet5", r, p) for r, p in ALL] + [("linear-net", r, p) for r, p in ALL] + \
        [("maxpool-net", r, p) for r, p in ALL[:3]]


@pytest.fixture(scope="module")
def stored():
    with np.load(os.path.join(HERE, "relevance.npz")) as d:
        return {k: d[k] for k in d.files}


def _net(model):
    """The model file: shipped for the seeded nets; the Toolbox's own LeNet-5 is not redistributed (its licence
    reads "free for academic use only"), so its cases run where DTD_TOOLBOX_DIR names a Toolbox checkout."""
    path = os.path.join(HERE, MODELS[model])
    if model == "lenet5":
        root = os.environ.get("DTD_TOOLBOX_DIR")
        if not root:
            pytest.skip("the Toolbox's LeNet-5 weights are not shipped (its licence: free for academic use only); "
                        "set DTD_TOOLBOX_DIR to a checkout of sebastian-lapuschkin/lrp_toolbox to check them")
        path = os.path.join(root, "models", "MNIST", "LeNet-5.txt")
    return load_lrp_toolbox(path)


def _rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def test_stored_data_is_small_and_says_where_it_comes_from():
    meta = json.load(open(os.path.join(HERE, "versions.json")))
    assert len(meta["toolbox_commit"]) == 40
    assert sum(os.path.getsize(os.path.join(HERE, f)) for f in os.listdir(HERE)) < 2 * 2 ** 20


@pytest.mark.parametrize("model", sorted(MODELS))
def test_the_loaded_model_computes_the_toolbox_forward(stored, model):
    y = _net(model).forward(stored["x"])
    assert _rel(y, stored[f"{model}/output"]) < 1e-12
    assert (y.argmax(1) == stored[f"{model}/target"]).all()


@pytest.mark.parametrize("model,rule,param", CASES)
def test_mapping_reproduces_the_toolbox(stored, model, rule, param):
    # the Toolbox starts from ypred * one_hot(argmax): dtd's f_c(x) at target=None
    R = _net(model).explain(stored["x"], lrp_toolbox(rule, param))
    T = stored[f"{model}/{rule}"]
    assert np.abs(T).max() > 0
    assert _rel(R, T) < 1e-10


def test_the_old_sumpool_mapping_is_told_apart(stored):
    net = _net("lenet5")
    old = [Epsilon(0.01) if isinstance(layer, (Conv2d, ScaledSumPool2d)) else None for layer in net.layers]
    assert _rel(net.explain(stored["x"], old), stored["lenet5/epsilon"]) > 1e-3


@pytest.mark.parametrize("rule,param", [("simple", None), ("epsilon", 0.01), ("alphabeta", 2.0)])
def test_max_pool_ties_are_split_equally_as_the_toolbox_does(stored, rule, param):
    net = _net("maxpool-net")
    rules = lrp_toolbox(rule, param).assign(net.layers)
    assert isinstance(rules[2], WinnerTakeAll)
    rules[2] = WinnerTakeAll(ties="first")
    assert _rel(net.explain(stored["x"], rules), stored[f"maxpool-net/{rule}"]) > 1e-2


def test_sumpool_epsilon_closed_form():
    """The Toolbox's SumPool: R_i = x_i R / (S + e sign S), S the unscaled window sum, R = f(x) = S / sqrt(4)."""
    x = np.array([1.0, 2.0, 3.0, -1.5]).reshape(1, 1, 2, 2)
    net = Sequential([ScaledSumPool2d(2)])
    S, e = x.sum(), 0.5
    R = net.explain(x, lrp_toolbox("epsilon", e), target=0)
    np.testing.assert_allclose(R, x * (S / 2) / (S + e), rtol=1e-15)
    R = net.explain(-x, lrp_toolbox("epsilon", e), target=0)
    np.testing.assert_allclose(R, -x * (-S / 2) / (-S - e), rtol=1e-15)


def test_refusals():
    layers = [Conv2d(np.ones((1, 1, 1, 1))), ReLU()]
    from dtd.layers import AvgPool2d, MaxPool2d
    for rule in ("ww", "flat"):     # its MaxPool spreads R over the window: Flat() on MaxPool2d
        assert lrp_toolbox(rule).assign(layers + [MaxPool2d(2)])[-1] == Flat()
    with pytest.raises(ValueError, match="AvgPool2d"):
        lrp_toolbox("simple").assign(layers + [AvgPool2d(2)])
    for rule in ("epsilon", "alphabeta"):
        with pytest.raises(ValueError, match="param"):
            lrp_toolbox(rule)
    with pytest.raises(ValueError, match="unknown"):
        lrp_toolbox("z")
    assert set(TOOLBOX_NAMES) == {r for _, r, _ in CASES}


@pytest.mark.parametrize("model,rule,param", CASES)
def test_mapping_in_float32(stored, model, rule, param):
    """float32 input: dtd computes in float32; measured 1.3e-7 to 1.1e-6 (worst: epsilon), asserted to 1e-5."""
    R = _net(model).explain(stored["x"].astype(np.float32), lrp_toolbox(rule, param))
    assert R.dtype == np.float32
    assert _rel(R, stored[f"{model}/{rule}"]) < 1e-5


def test_alphabeta_on_sumpool_with_signed_inputs_is_not_reproduced(stored):
    """The Toolbox's SumPool 'alphabeta' multiplies its beta part by R twice (documented gap, no dtd setting).

    Window j with unscaled sum S, Z+ / Z- its positive / negative parts, R = y_j = S / 2:
    the Toolbox gives ``alpha Z+ R / sum Z+ + beta Z- R^2 / sum Z-`` (beta = 1 - alpha = -1),
    dtd's ``AlphaBeta(2, 1)`` the same with ``R`` once; the stored arrays are the first (measured: dtd
    is 0.42 off them, max abs difference / max abs).
    """
    x, target = stored["x"], stored["sumpool-signed/target"]
    T = stored["sumpool-signed/alphabeta"]
    n = len(x)
    win = x[:, 0].reshape(n, 16, 2, 16, 2).transpose(0, 1, 3, 2, 4).reshape(n, 256, 4)[np.arange(n), target]
    assert ((win.min(1) < 0) & (win.max(1) > 0)).all()          # both signs in every chosen window
    zp, zn = np.maximum(win, 0), np.minimum(win, 0)
    sp, sn = zp.sum(1, keepdims=True), zn.sum(1, keepdims=True)
    R = win.sum(1, keepdims=True) / 2
    toolbox = 2 * zp * R / sp - zn * R ** 2 / sn
    linear = 2 * zp * R / sp - zn * R / sn
    T_win = T[:, 0].reshape(n, 16, 2, 16, 2).transpose(0, 1, 3, 2, 4).reshape(n, 256, 4)[np.arange(n), target]
    np.testing.assert_allclose(T_win, toolbox, rtol=1e-12, atol=1e-15)
    assert np.abs(T).sum() == pytest.approx(np.abs(T_win).sum(), rel=1e-15)   # nothing outside the window
    net = Sequential([ScaledSumPool2d(2), Flatten()])
    ours = net.explain(x, lrp_toolbox("alphabeta", 2.0), target=target)
    ours_win = ours[:, 0].reshape(n, 16, 2, 16, 2).transpose(0, 1, 3, 2, 4).reshape(n, 256, 4)[np.arange(n), target]
    np.testing.assert_allclose(ours_win, linear, rtol=1e-12, atol=1e-15)
    assert _rel(ours, T) > 1e-2


EXTRA = ([(m, r, p) for m in ("maxpool-net", "linear-net") for r, p in (("alphabeta", 1.0), ("epsilon", 0.1))]
         + [("maxpool-net", "ww", None), ("maxpool-net", "flat", None)])


@pytest.fixture(scope="module")
def extra():
    with np.load(os.path.join(HERE, "extra.npz"), allow_pickle=False) as d:
        return {k: d[k] for k in d.files}


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("model,rule,param", EXTRA)
def test_mapping_reproduces_the_toolbox_extra_parameters(stored, extra, model, rule, param, dtype, tol):
    """'alphabeta' with alpha = 1 (beta = 0: only the positive part, b+ in its denominator) and
    'epsilon' 0.1 (ten times the stored run's), on the seeded models."""
    assert np.array_equal(extra["x"], stored["x"])
    T = extra[f"{model}/{rule}@{param}"]
    R = _net(model).explain(extra["x"].astype(dtype), lrp_toolbox(rule, param))
    assert np.abs(T).max() > 0
    assert _rel(R, T) < tol
    if param is not None:
        assert _rel(T, stored[f"{model}/{rule}"]) > 1e-3      # not the stored parameter's relevance
    else:       # 'ww'/'flat' on MaxPool: the winner-take-all max pooling would be far off
        rules = lrp_toolbox(rule).assign(_net(model).layers)
        wta = [WinnerTakeAll() if type(layer).__name__ == "MaxPool2d" else r
               for layer, r in zip(_net(model).layers, rules)]
        assert _rel(_net(model).explain(extra["x"], wta), T) > 1e-2
