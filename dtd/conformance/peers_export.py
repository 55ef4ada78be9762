"""Run a peer implementation on a fixed catalogue and store its relevances (issue 15, "Run the peers").

Only ``--peer toolbox`` (the LRP Toolbox, sebastian-lapuschkin/lrp_toolbox) is
implemented.  The Toolbox has no package: bring its repository here (any
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
#: rules run on the max-pooling model (the Toolbox's 'ww'/'flat' spread R uniformly over a MaxPool window,
#: which no dtd rule for MaxPool2d does)
MAXPOOL_RULES = (("simple", None), ("epsilon", 0.01), ("alphabeta", 2.0))
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


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m dtd.conformance.peers_export", description=__doc__.split("\n")[0])
    p.add_argument("--peer", choices=["toolbox"], required=True)
    p.add_argument("--toolbox-dir", required=True, help="a checkout of sebastian-lapuschkin/lrp_toolbox")
    p.add_argument("--commit", help="the checkout's git commit, if it is not a git work tree")
    p.add_argument("--out", default=os.path.join("data", "golden", "peers", "toolbox"))
    a = p.parse_args(argv)
    arrays, meta = run_toolbox(a.toolbox_dir, a.out, a.commit)
    print(f"wrote {a.out}: {len(arrays)} arrays, Toolbox commit {meta['toolbox_commit']}")


if __name__ == "__main__":
    main()
