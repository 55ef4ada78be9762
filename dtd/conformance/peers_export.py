"""Run a peer implementation on a fixed catalogue and store its relevances (issue 15, "Run the peers").

``--peer innvestigate`` (iNNvestigate 2.1.2 on TensorFlow 2.14.1, in its own
virtual environment; TensorFlow and iNNvestigate are imported only on that
path, see :func:`run_innvestigate` and ``data/golden/peers/README.md``)::

    /work/venv-tf/bin/python -m dtd.conformance.peers_export --peer innvestigate \
        --out data/golden/peers/innvestigate

runs every analyzer of :data:`INNVESTIGATE_ANALYZERS` on the seeded nets of
:func:`innvestigate_catalogue` (Keras models built from the same arrays as the
dtd nets it saves beside the relevances) in float64 and float32, and writes
``relevance.npz`` (``<net>/x``, ``<dtype>/<net>/output``, ``<dtype>/<net>/<key>``,
``<dtype>/<net>/index/<key>``, ``<net>/index-target``), ``<net>.npz`` (dtd models)
and ``versions.json``.

``--peer toolbox`` runs the LRP Toolbox (sebastian-lapuschkin/lrp_toolbox).
The Toolbox has no package: bring its repository here (any
checkout with ``python/`` and ``models/MNIST/LeNet-5.txt``) and run::

    PYTHONPATH=SHIM python -m dtd.conformance.peers_export --peer toolbox \\
        --toolbox-dir DIR --out data/golden/peers/toolbox

where ``SHIM`` holds a ``sitecustomize.py`` with ``numpy.float = float``
(the Toolbox's Python code uses the alias NumPy 2 removed; nothing of the
Toolbox is copied into dtd).  The script imports ``DIR/python/model_io``,
reads two models with the Toolbox's own reader, runs ``nn.forward`` and
``nn.lrp(R0, rule, param)`` for each rule, and writes

- ``relevance.npz``: ``x`` (the inputs, NCHW, float64), per model ``M``:
  ``M/output`` (the Toolbox's forward output, (N, 10)), ``M/target`` and
  ``M/RULE`` (the Toolbox's relevance, transposed from its NHWC to NCHW);
- the models, as data: not the Toolbox's ``LeNet-5.txt`` (its licence reads "free for
  academic use only": the tests read it from a checkout named by ``DTD_TOOLBOX_DIR``),
  but the small generated ``maxpool-net.txt`` (with a ``MaxPool``) and
  ``linear-net.txt`` (strided Convolution, SumPool 3 x 3, Linear, Tanh, SoftMax);
- ``sumpool-signed/alphabeta``: the Toolbox's ``SumPool(2, 2)`` alone, 'alphabeta' 2,
  on the (signed) inputs from ``y * one_hot`` at ``sumpool-signed/target``
  (the first window with both signs), where no dtd rule reproduces it;
- ``versions.json``: the Toolbox's git commit, NumPy's version, the inputs'
  source and every setting.

Starting relevance, as in the Toolbox's ``lrp_cnn_demo.py``: ``R0 = ypred *
mask`` with the mask one-hot at ``argmax(ypred)``, i.e. ``f_c(x)`` at the
predicted class — the same as dtd's start with ``target=None``.
"""
import argparse
import importlib
import json
import os
import subprocess
import sys

import numpy as np

#: (rule, param) pairs run on every model (param as passed to the Toolbox's ``nn.lrp``)
TOOLBOX_RULES = (("simple", None), ("epsilon", 0.01), ("alphabeta", 2.0), ("ww", None), ("flat", None))
#: rules run on the max-pooling model by the full run (its 'ww'/'flat' are run by ``--extra``: EXTRA_BY_MODEL)
MAXPOOL_RULES = (("simple", None), ("epsilon", 0.01), ("alphabeta", 2.0))
#: further (rule, param) pairs run on the two seeded models by ``--extra`` (:func:`run_toolbox_extra`)
EXTRA_RULES = (("alphabeta", 1.0), ("epsilon", 0.1))
#: the rules ``--extra`` runs per model: also 'ww' and 'flat' on the max-pooling model (their MaxPool spreads R
#: over the window: dtd's Flat() there)
EXTRA_BY_MODEL = {"maxpool-net": EXTRA_RULES + (("ww", None), ("flat", None)), "linear-net": EXTRA_RULES}
N_INPUTS = 8


def inputs():
    """The 8 fixed inputs, (8, 1, 32, 32) float64 in [-1, 1], and where they come from.

    The first 8 MNIST test digits (``dtd.datasets.load_mnist``) scaled as in
    the Toolbox's demo (``p / 127.5 - 1``) and padded with -1 to 32 x 32; if
    no MNIST is installed, a seeded uniform sample in [-1, 1].
    """
    try:
        from ..datasets import load_mnist
        images, labels = load_mnist(split="test", limit=N_INPUTS, dtype=np.uint8)
        x = images.astype(np.float64) / 127.5 - 1.0
        source = f"MNIST test digits 0..{N_INPUTS - 1} (dtd.datasets.load_mnist), p / 127.5 - 1, padded with -1"
    except Exception as e:  # noqa: BLE001 - any missing data source
        x = np.random.default_rng(15).uniform(-1, 1, (N_INPUTS, 1, 28, 28))
        source = f"seeded uniform [-1, 1] (numpy default_rng(15)); MNIST not available: {e}"
    x = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=-1.0)
    return x, source


def maxpool_model_text(seed=15):
    """A small Toolbox text model with a MaxPool, seeded weights (input 32 x 32 x 1, 10 outputs)."""
    rng = np.random.default_rng(seed)

    def nums(a):
        return " ".join(repr(float(v)) for v in np.ravel(a))

    w1, b1 = rng.normal(0, 0.3, (5, 5, 1, 4)), rng.normal(0, 0.1, 4)
    w2, b2 = rng.normal(0, 0.2, (3, 3, 4, 6)), rng.normal(0, 0.1, 6)
    w3, b3 = rng.normal(0, 0.1, (6 * 6 * 6, 10)), rng.normal(0, 0.1, 10)
    return "\n".join([
        "Convolution 5 5 1 4 1 1", nums(w1), nums(b1), "Rect", "MaxPool 2 2 2 2",
        "Convolution 3 3 4 6 1 1", nums(w2), nums(b2), "Rect", "SumPool 2 2 2 2", "Flatten",
        "Linear 216 10", nums(w3), nums(b3), ""])


def linear_model_text(seed=16):
    """A small Toolbox text model with a strided Convolution, Tanh and Linear layers, seeded weights."""
    rng = np.random.default_rng(seed)

    def nums(a):
        return " ".join(repr(float(v)) for v in np.ravel(a))

    w1, b1 = rng.normal(0, 0.3, (4, 4, 1, 4)), rng.normal(0, 0.1, 4)
    w2, b2 = rng.normal(0, 0.2, (100, 16)), rng.normal(0, 0.1, 16)
    w3, b3 = rng.normal(0, 0.3, (16, 10)), rng.normal(0, 0.1, 10)
    return "\n".join([
        "Convolution 4 4 1 4 2 2", nums(w1), nums(b1), "Rect", "SumPool 3 3 3 3", "Flatten",
        "Linear 100 16", nums(w2), nums(b2), "Tanh", "Linear 16 10", nums(w3), nums(b3), "SoftMax", ""])


def _git_commit(path):
    for args in (["git", "-C", path, "rev-parse", "HEAD"],):
        try:
            return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    return None


def run_toolbox(toolbox_dir, out, commit=None):
    """Run the Toolbox on the catalogue and write ``out/relevance.npz``, ``out/maxpool-net.txt``, ``out/versions.json``."""
    toolbox_dir = os.path.abspath(toolbox_dir)
    sys.path.insert(0, os.path.join(toolbox_dir, "python"))
    if not hasattr(np, "float"):
        raise SystemExit("the LRP Toolbox needs numpy.float: run with PYTHONPATH pointing to a sitecustomize.py "
                         "that sets numpy.float = float (see this module's docstring)")
    model_io = importlib.import_module("model_io")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "maxpool-net.txt"), "w") as f:
        f.write(maxpool_model_text())
    with open(os.path.join(out, "linear-net.txt"), "w") as f:
        f.write(linear_model_text())
    # the Toolbox's LeNet-5 is read from its checkout, not copied: its licence reads "free for academic use only"
    models = {"lenet5": (os.path.join(toolbox_dir, "models", "MNIST", "LeNet-5.txt"), TOOLBOX_RULES),
              "maxpool-net": (os.path.join(out, "maxpool-net.txt"), MAXPOOL_RULES),
              "linear-net": (os.path.join(out, "linear-net.txt"), TOOLBOX_RULES)}
    x, source = inputs()
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    arrays = {"x": x}
    for name, (path, rules) in models.items():
        nn = model_io.read(path)
        if nn.modules[-1].__class__.__name__ == "SoftMax":
            nn.drop_softmax_output_layer()
        y = nn.forward(x_nhwc)
        mask = np.zeros_like(y)
        mask[np.arange(len(y)), np.argmax(y, axis=1)] = 1
        arrays[f"{name}/output"] = y
        arrays[f"{name}/target"] = np.argmax(y, axis=1)
        for rule, param in rules:
            nn.forward(x_nhwc)
            R = nn.lrp(y * mask, rule, param)
            arrays[f"{name}/{rule}"] = np.asarray(R, dtype=np.float64).transpose(0, 3, 1, 2)
    # the Toolbox's SumPool alone under 'alphabeta' 2 on signed inputs (its beta part multiplies by R twice):
    # R0 = y * one_hot at the first 2 x 2 window (row-major over (16, 16)) holding both signs, per sample
    sumpool = importlib.import_module("modules").SumPool(pool=(2, 2), stride=(2, 2))
    y = sumpool.forward(x_nhwc)
    win = x_nhwc[..., 0].reshape(len(x), 16, 2, 16, 2).transpose(0, 1, 3, 2, 4).reshape(len(x), 256, 4)
    target = np.argmax((win.min(-1) < 0) & (win.max(-1) > 0), axis=1)
    mask = np.zeros((len(x), 256))
    mask[np.arange(len(x)), target] = 1
    R0 = y * mask.reshape(y.shape)
    arrays["sumpool-signed/target"] = target
    arrays["sumpool-signed/alphabeta"] = np.asarray(sumpool.lrp(R0, "alphabeta", 2.0)).transpose(0, 3, 1, 2)
    np.savez_compressed(os.path.join(out, "relevance.npz"), **arrays)
    meta = {
        "peer": "LRP Toolbox (github.com/sebastian-lapuschkin/lrp_toolbox), python/ with NumPy",
        "toolbox_commit": commit or _git_commit(toolbox_dir),
        "numpy": np.__version__, "python": sys.version.split()[0],
        "inputs": source, "input_shape_nchw": list(x.shape),
        "start": "R0 = ypred * one_hot(argmax(ypred)) (as lrp_cnn_demo.py); dtd: f_c(x) at target=argmax",
        "models": {"lenet5": "models/MNIST/LeNet-5.txt of the Toolbox checkout (not copied: its licence)",
                   "maxpool-net": "maxpool-net.txt here (seeded weights, dtd.conformance.peers_export.maxpool_model_text)",
                   "linear-net": "linear-net.txt here (seeded weights, dtd.conformance.peers_export.linear_model_text)"},
        "rules": {"lenet5": [[r, p] for r, p in TOOLBOX_RULES], "maxpool-net": [[r, p] for r, p in MAXPOOL_RULES],
                  "linear-net": [[r, p] for r, p in TOOLBOX_RULES]},
        "sumpool-signed": "modules.SumPool((2, 2), (2, 2)) alone: lrp(y * one_hot(target), 'alphabeta', 2.0)",
        "call": "nn.forward(X_nhwc); nn.lrp(R0, rule, param); relevance stored transposed to NCHW",
    }
    with open(os.path.join(out, "versions.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return arrays, meta



def run_toolbox_extra(toolbox_dir, out, commit=None):
    """Run :data:`EXTRA_BY_MODEL` on the two seeded models, on the inputs already stored in ``out/relevance.npz``.

    Writes ``out/extra.npz`` (``M/RULE@PARAM``, NCHW, and ``x``, the inputs used) and ``out/extra.json``;
    ``relevance.npz`` is read, never rewritten (its inputs are MNIST digits, which need not be installed).
    """
    toolbox_dir = os.path.abspath(toolbox_dir)
    sys.path.insert(0, os.path.join(toolbox_dir, "python"))
    if not hasattr(np, "float"):
        raise SystemExit("the LRP Toolbox needs numpy.float: see this module's docstring")
    model_io = importlib.import_module("model_io")
    with np.load(os.path.join(out, "relevance.npz"), allow_pickle=False) as d:
        x = d["x"]
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    arrays = {"x": x}
    for name in ("maxpool-net", "linear-net"):
        nn = model_io.read(os.path.join(out, f"{name}.txt"))
        if nn.modules[-1].__class__.__name__ == "SoftMax":
            nn.drop_softmax_output_layer()
        y = nn.forward(x_nhwc)
        mask = np.zeros_like(y)
        mask[np.arange(len(y)), np.argmax(y, axis=1)] = 1
        for rule, param in EXTRA_BY_MODEL[name]:
            nn.forward(x_nhwc)
            arrays[f"{name}/{rule}@{param}"] = np.asarray(nn.lrp(y * mask, rule, param)).transpose(0, 3, 1, 2)
    np.savez_compressed(os.path.join(out, "extra.npz"), **arrays)
    meta = {"peer": "LRP Toolbox, python/ with NumPy", "toolbox_commit": commit or _git_commit(toolbox_dir),
            "numpy": np.__version__, "python": sys.version.split()[0],
            "inputs": "x of relevance.npz (stored again here as x)",
            "rules": {m: [[r, p] for r, p in rules] for m, rules in EXTRA_BY_MODEL.items()},
            "keys": "M/RULE@PARAM", "start": "R0 = ypred * one_hot(argmax(ypred)), as relevance.npz",
            "call": "nn.forward(X_nhwc); nn.lrp(R0, rule, param); relevance stored transposed to NCHW"}
    with open(os.path.join(out, "extra.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return arrays, meta


# -- iNNvestigate ----------------------------------------------------------------------------------------------------
#: (key, analyzer name, parameters) run on every net in max_activation mode; key names the stored array
INNVESTIGATE_ANALYZERS = (
    ("lrp.z", "lrp.z", {}),
    ("lrp.epsilon", "lrp.epsilon", {}),
    ("lrp.epsilon@0.1", "lrp.epsilon", {"epsilon": 0.1}),
    ("lrp.w_square", "lrp.w_square", {}),
    ("lrp.flat", "lrp.flat", {}),
    ("lrp.alpha_beta@3,2", "lrp.alpha_beta", {"alpha": 3, "beta": 2}),
    ("lrp.alpha_2_beta_1", "lrp.alpha_2_beta_1", {}),
    ("lrp.alpha_2_beta_1_IB", "lrp.alpha_2_beta_1_IB", {}),
    ("lrp.alpha_1_beta_0", "lrp.alpha_1_beta_0", {}),
    ("lrp.alpha_1_beta_0_IB", "lrp.alpha_1_beta_0_IB", {}),
    ("lrp.z_plus", "lrp.z_plus", {}),
    ("lrp.z_plus_fast", "lrp.z_plus_fast", {}),
    ("lrp.sequential_preset_a", "lrp.sequential_preset_a", {}),
    ("lrp.sequential_preset_b", "lrp.sequential_preset_b", {}),
    ("lrp.sequential_preset_a_flat", "lrp.sequential_preset_a_flat", {}),
    ("lrp.sequential_preset_b_flat", "lrp.sequential_preset_b_flat", {}),
    ("deep_taylor", "deep_taylor", {}),
    ("deep_taylor.bounded", "deep_taylor.bounded", {"low": -1.0, "high": 1.0}),
    ("gradient", "gradient", {}),
    ("input_t_gradient", "input_t_gradient", {}),
)
#: analyzers also run in neuron_selection_mode="index" at the targets ``<net>/index-target`` (the argmin of the
#: outputs: mostly negative logits), stored as ``<net>/index/<key>``
INNVESTIGATE_INDEX_RUNS = ("lrp.z", "lrp.epsilon", "lrp.alpha_2_beta_1", "deep_taylor", "deep_taylor.bounded",
                           "gradient", "input_t_gradient")
INNV_N = 8


def _dyadic(rng, scale, shape, denom=256):
    """Seeded normal numbers rounded to multiples of 1/denom: the same value in float32 and float64."""
    return np.round(rng.normal(0, scale, shape) * denom) / denom


def innvestigate_catalogue():
    """The nets and inputs iNNvestigate is run on: ``{name: (spec, x)}``, built from seeds (no TF needed).

    ``spec`` is a list of layers as Keras sees them: ``("dense", W (out, in), b, act)``,
    ``("conv", W (out, in, kh, kw), b, padding, act)`` (``padding`` "valid" or "same", stride 1),
    ``("maxpool", k)``, ``("avgpool", k)``, ``("flatten",)``, ``("relu",)`` (a separate
    ``keras.layers.ReLU``); ``act`` is "relu" or "linear".  Weights in dtd's layout (NCHW).
    Every weight, bias and input is a multiple of 1/256 (exact in float32), x in [-1, 1].
    """
    cat = {}
    rng = np.random.default_rng(150)
    W1, b1 = _dyadic(rng, 0.5, (10, 6)), _dyadic(rng, 0.2, 10)
    W2, b2 = _dyadic(rng, 0.4, (8, 10)), _dyadic(rng, 0.2, 8)
    W3, b3 = _dyadic(rng, 0.4, (4, 8)), _dyadic(rng, 0.2, 4)
    x = np.round(rng.uniform(-1, 1, (INNV_N, 6)) * 256) / 256
    cat["mlp"] = ([("dense", W1, b1, "relu"), ("dense", W2, b2, "relu"), ("dense", W3, b3, "linear")], x)
    # the same weights with separate keras.layers.ReLU layers (iNNvestigate reverses them by their gradient)
    cat["relu-layers"] = ([("dense", W1, b1, "linear"), ("relu",), ("dense", W2, b2, "linear"), ("relu",),
                           ("dense", W3, b3, "linear")], x)
    rng = np.random.default_rng(151)
    spec = [("conv", _dyadic(rng, 0.4, (4, 1, 3, 3)), _dyadic(rng, 0.1, 4), "valid", "relu"), ("maxpool", 2),
            ("conv", _dyadic(rng, 0.3, (6, 4, 3, 3)), _dyadic(rng, 0.1, 6), "same", "relu"), ("avgpool", 2),
            ("flatten",), ("dense", _dyadic(rng, 0.2, (10, 54)), _dyadic(rng, 0.1, 10), "relu"),
            ("dense", _dyadic(rng, 0.4, (5, 10)), _dyadic(rng, 0.1, 5), "linear")]
    cat["cnn"] = (spec, np.round(rng.uniform(-1, 1, (INNV_N, 1, 14, 14)) * 256) / 256)
    # max-pool ties: inputs in {-1, -1/2, 0, 1/2, 1}, a 1x1 convolution with weights and biases k/4, so equal
    # inputs give exactly equal pooled values (ties at positive maxima and at zero)
    rng = np.random.default_rng(152)
    spec = [("conv", np.array([0.5, -0.75, 1.0]).reshape(3, 1, 1, 1), np.array([0.25, 0.0, -0.25]), "valid", "relu"),
            ("maxpool", 2), ("flatten",), ("dense", _dyadic(rng, 0.3, (6, 48)), _dyadic(rng, 0.1, 6), "relu"),
            ("dense", _dyadic(rng, 0.4, (3, 6)), _dyadic(rng, 0.1, 3), "linear")]
    cat["ties"] = (spec, rng.integers(-2, 3, (INNV_N, 1, 8, 8)) / 2.0)
    return cat


def dtd_net(spec):
    """The dtd :class:`~dtd.Sequential` of a catalogue ``spec`` (a fused ReLU becomes a ReLU layer)."""
    from ..layers import AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, ReLU
    from ..network import Sequential
    layers = []
    for s in spec:
        if s[0] == "dense":
            layers.append(Dense(s[1], s[2]))
        elif s[0] == "conv":
            layers.append(Conv2d(s[1], s[2], padding=(s[1].shape[-1] - 1) // 2 if s[3] == "same" else 0))
        elif s[0] == "maxpool":
            layers.append(MaxPool2d(s[1]))
        elif s[0] == "avgpool":
            layers.append(AvgPool2d(s[1]))
        elif s[0] == "flatten":
            layers.append(Flatten())
        elif s[0] == "relu":
            layers.append(ReLU())
        if s[0] in ("dense", "conv") and s[-1] == "relu":
            layers.append(ReLU())
    return Sequential(layers)


def _keras_model(spec, input_shape, dtype):
    """The Keras model of ``spec`` (NHWC; the Dense after a Flatten gets its rows permuted from CHW to HWC)."""
    from tensorflow import keras
    inp = keras.Input(input_shape, dtype=dtype)
    h, shape, weights = inp, input_shape, []
    chw = None
    for s in spec:
        if s[0] == "dense":
            W = s[1]
            if chw is not None:          # dtd's Flatten is C, H, W; Keras's H, W, C
                c, hh, ww = chw
                W = W.reshape(len(W), c, hh, ww).transpose(0, 2, 3, 1).reshape(len(W), -1)
                chw = None
            layer = keras.layers.Dense(W.shape[0], activation=s[3], dtype=dtype)
            weights.append((layer, [W.T, s[2]]))
        elif s[0] == "conv":
            layer = keras.layers.Conv2D(s[1].shape[0], s[1].shape[2:], padding=s[3], activation=s[4], dtype=dtype)
            weights.append((layer, [s[1].transpose(2, 3, 1, 0), s[2]]))
        elif s[0] == "maxpool":
            layer = keras.layers.MaxPooling2D(s[1], dtype=dtype)
        elif s[0] == "avgpool":
            layer = keras.layers.AveragePooling2D(s[1], dtype=dtype)
        elif s[0] == "flatten":
            layer = keras.layers.Flatten(dtype=dtype)
            chw = (h.shape[3], h.shape[1], h.shape[2])
        elif s[0] == "relu":
            layer = keras.layers.ReLU(dtype=dtype)
        h = layer(h)
    model = keras.Model(inp, h)
    for layer, w in weights:
        layer.set_weights([np.asarray(a, dtype=dtype) for a in w])
    return model


def run_innvestigate(out):
    """Run iNNvestigate on :func:`innvestigate_catalogue` in float64 and float32 and write ``out``.

    Needs TensorFlow and iNNvestigate (a separate venv, see ``data/golden/peers/README.md``); imported here only.
    """
    import importlib.metadata as md

    import tensorflow as tf
    tf.compat.v1.disable_eager_execution()
    import innvestigate
    from tensorflow import keras

    from ..io.native import save
    os.makedirs(out, exist_ok=True)
    arrays = {}
    cat = innvestigate_catalogue()
    for name, (spec, x) in cat.items():
        save(dtd_net(spec), os.path.join(out, f"{name}.npz"))
        arrays[f"{name}/x"] = x
    for dtype in ("float64", "float32"):
        keras.backend.set_floatx(dtype)
        for name, (spec, x) in cat.items():
            xk = (x.transpose(0, 2, 3, 1) if x.ndim == 4 else x).astype(dtype)

            def fresh_model():      # a new graph for every analyzer: graph mode grows (and slows) otherwise
                keras.backend.clear_session()
                keras.backend.set_floatx(dtype)
                return _keras_model(spec, xk.shape[1:], dtype)

            model = fresh_model()
            y = model.predict(xk, verbose=0)
            arrays[f"{dtype}/{name}/output"] = y.astype(np.float64)
            index_target = np.argmin(y, axis=1)
            arrays[f"{name}/index-target"] = np.argmin(arrays[f"float64/{name}/output"], axis=1)
            for key, analyzer, params in INNVESTIGATE_ANALYZERS:
                runs = [("max_activation", None)]
                if key in INNVESTIGATE_INDEX_RUNS:
                    runs.append(("index", arrays[f"{name}/index-target"]))
                for mode, target in runs:
                    model = fresh_model()
                    a = innvestigate.create_analyzer(analyzer, model, neuron_selection_mode=mode,
                                                    disable_model_checks=True, **params)
                    R = a.analyze(xk) if target is None else a.analyze(xk, neuron_selection=[int(t) for t in target])
                    R = np.asarray(R)
                    assert R.dtype == np.dtype(dtype), (key, R.dtype)
                    if R.ndim == 4:
                        R = R.transpose(0, 3, 1, 2)
                    arrays[f"{dtype}/{name}/{'index/' if mode == 'index' else ''}{key}"] = R.astype(np.float64)
            assert (index_target == arrays[f"{name}/index-target"]).all()
    np.savez_compressed(os.path.join(out, "relevance.npz"), **arrays)
    meta = {
        "peer": "iNNvestigate (github.com/albermax/innvestigate) on TensorFlow/Keras, graph mode "
                "(tf.compat.v1.disable_eager_execution())",
        "innvestigate": md.version("innvestigate"),
        "innvestigate.__version__": getattr(innvestigate, "__version__", None),
        "tensorflow": tf.__version__, "keras": md.version("keras"), "numpy": np.__version__,
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: TensorFlow's default, on)"),
        "python": sys.version.split()[0],
        "dtypes": "float64: keras.backend.set_floatx('float64') and float64 layers/inputs; float32 likewise",
        "inputs": "innvestigate_catalogue(): seeded (numpy default_rng 150, 151, 152), multiples of 1/256 in [-1, 1] "
                  "(the ties net: {-1, -1/2, 0, 1/2, 1}); stored as '<net>/x' (NCHW for images)",
        "nets": {name: [[s[0]] + [v for v in s[1:] if isinstance(v, (str, int))] for s in spec]
                 for name, (spec, _) in cat.items()},
        "net_files": "<net>.npz: the same net as a dtd model (dtd.io.save; a fused Keras ReLU is a ReLU layer); "
                     "Keras layout: NHWC, Dense kernel (in, out) with rows permuted from C,H,W to H,W,C "
                     "after a Flatten",
        "analyzers": {k: {"name": n, "params": p} for k, n, p in INNVESTIGATE_ANALYZERS},
        "neuron_selection": "max_activation (the default) for every analyzer: '<dtype>/<net>/<key>'; "
                            "'index' at '<net>/index-target' (argmin of the float64 output) for "
                            + ", ".join(INNVESTIGATE_INDEX_RUNS) + ": '<dtype>/<net>/index/<key>'",
        "call": "innvestigate.create_analyzer(name, model, neuron_selection_mode=mode, disable_model_checks=True, "
                "**params).analyze(x_nhwc[, neuron_selection=list of int]) on a fresh graph (keras.backend."
                "clear_session()) per analyzer; relevance stored transposed to NCHW, as float64",
        "disable_model_checks": "True: iNNvestigate 2.1.2's LRP analyzers raise NotImplementedError after their "
                                "'LRP is only tested for convolutional neural networks' warning on a model with a "
                                "keras.layers.ReLU layer (base.py _do_model_checks raises after any warning); the "
                                "checks that raise exceptions (softmax output, non-ReLU activations) pass on "
                                "these nets",
    }
    with open(os.path.join(out, "versions.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return arrays, meta


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m dtd.conformance.peers_export", description=__doc__.split("\n")[0])
    p.add_argument("--peer", choices=["toolbox", "innvestigate"], required=True)
    p.add_argument("--toolbox-dir", help="a checkout of sebastian-lapuschkin/lrp_toolbox (--peer toolbox)")
    p.add_argument("--commit", help="the checkout's git commit, if it is not a git work tree")
    p.add_argument("--out", help="default: data/golden/peers/PEER")
    p.add_argument("--extra", action="store_true",
                   help="--peer toolbox: only run EXTRA_RULES on the inputs stored in OUT/relevance.npz (extra.npz)")
    a = p.parse_args(argv)
    out = a.out or os.path.join("data", "golden", "peers", a.peer)
    if a.peer == "innvestigate":
        arrays, meta = run_innvestigate(out)
        print(f"wrote {out}: {len(arrays)} arrays, iNNvestigate {meta['innvestigate']}, "
              f"TensorFlow {meta['tensorflow']}")
        return
    if not a.toolbox_dir:
        p.error("--peer toolbox needs --toolbox-dir")
    run = run_toolbox_extra if a.extra else run_toolbox
    arrays, meta = run(a.toolbox_dir, out, a.commit)
    print(f"wrote {out}: {len(arrays)} arrays, Toolbox commit {meta['toolbox_commit']}")


if __name__ == "__main__":
    main()
