"""The two networks of the MNIST experiments (seed 001), how they are trained, and the shipped weights.

Both detect the *presence* of a digit 0-3 in a 28 x 56 image (:func:`dtd.datasets.make_pairs`):
a pair with a digit 0-3 beside a distractor 4-9 has target 1, a pair of two
distractors (``p_absent``) target 0; the output is regressed on the target by
the squared loss, and a pair is called "present" when ``f(x) > 0.5``. The
output is a sum of ReLU units (sum pooling), so ``f(x) >= 0`` is the amount of
evidence found, as seed 001 asks of a function to explain.

The sum at the top is a ``Dense(n -> 1)`` with weights fixed to 1 and bias 0,
listed in ``frozen`` so that training leaves it alone. Every other bias is
kept ``<= 0`` by projection after each step (:class:`dtd.train.NonPositiveBias`).
"""
from dataclasses import asdict, dataclass

import numpy as np

from ..layers import Conv2d, Dense, Flatten, ReLU, SumPool2d
from ..network import Sequential

__all__ = ["DETECTOR_FILE", "CNN_FILE", "TrainConfig", "DETECTOR_CONFIG", "CNN_CONFIG", "make_detector",
           "make_cnn", "frozen_layers", "train_model", "presence_target"]

DETECTOR_FILE = "mnist_detector.npz"
CNN_FILE = "mnist_cnn.npz"


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`train_model` (the defaults of the shipped models are below)."""

    epochs: int
    lr: float
    batch_size: int = 20
    momentum: float = 0.9
    n_train: int = 60000
    p_absent: float = 0.5
    pair_seed: int = 1
    init_seed: int = 0
    shuffle_seed: int = 0
    init_scale: float = 1.0

    def as_dict(self):
        return asdict(self)


#: seed 001: one hidden layer of 400 units, SGD with batch size 20 (the talk runs 300,000
#: iterations; 20 epochs of 3,000 steps take a few minutes here)
DETECTOR_CONFIG = TrainConfig(epochs=20, lr=3e-5, init_scale=1e-4)
CNN_CONFIG = TrainConfig(epochs=3, lr=1e-3, init_scale=0.05)


def presence_target(target):
    """Regression target (N, 1) float: 1 where a digit 0-3 is present (``target >= 0``), else 0."""
    return (np.asarray(target) >= 0).astype(np.float64)[:, None]


def make_detector(seed=0, scale=1e-4, dtype=np.float32):
    r"""The detection-pooling network of seed 001 ("Example MNIST").

    .. math:: x_j = \max\big(0, \sum_i x_i w_{ij} + b_j\big), \quad b_j \le 0, \qquad x_k = \sum_j x_j

    Layers: ``Flatten`` (1 x 28 x 56 -> 1568), ``Dense(1568 -> 400)``, ``ReLU``,
    ``Dense(400 -> 1)`` with weights 1 and bias 0 (the sum; not trained).
    Weights :math:`w_{ij} \sim N(0, \text{scale}^2)`, biases 0 (seed 001).
    """
    rng = np.random.default_rng(seed)
    return Sequential([
        Flatten(),
        Dense(rng.normal(0.0, scale, size=(400, 1568)).astype(dtype), np.zeros(400, dtype)),
        ReLU(),
        Dense(np.ones((1, 400), dtype), np.zeros(1, dtype)),
    ])


def make_cnn(seed=0, scale=0.05, dtype=np.float32):
    """A deep network for seed 001's "Application to Deep Networks": conv-ReLU-sum-pool blocks, a sum at the top.

    =====  ===========================  ==============
    index  layer                        output shape
    =====  ===========================  ==============
    0      Conv2d(1 -> 8, 5 x 5)        8 x 24 x 52
    1      ReLU
    2      SumPool2d(2)                 8 x 12 x 26
    3      Conv2d(8 -> 16, 5 x 5)       16 x 8 x 22
    4      ReLU
    5      SumPool2d(2)                 16 x 4 x 11
    6      Conv2d(16 -> 32, 4 x 4)      32 x 1 x 8
    7      ReLU
    8      Flatten                      256
    9      Dense(256 -> 1), weights 1   1  (the sum; not trained)
    =====  ===========================  ==============

    Weights :math:`N(0, (\\text{scale} \\cdot \\sqrt{2 / \\text{fan-in}})^2)`, biases 0.
    """
    rng = np.random.default_rng(seed)

    def conv(cout, cin, k):
        w = rng.normal(0.0, scale * np.sqrt(2.0 / (cin * k * k)), size=(cout, cin, k, k))
        return Conv2d(w.astype(dtype), np.zeros(cout, dtype))

    return Sequential([
        conv(8, 1, 5), ReLU(), SumPool2d(2),
        conv(16, 8, 5), ReLU(), SumPool2d(2),
        conv(32, 16, 4), ReLU(),
        Flatten(), Dense(np.ones((1, 256), dtype), np.zeros(1, dtype)),
    ])


def frozen_layers(net):
    """Indices of the fixed sum layers: a last ``Dense`` whose weights are all 1 and bias 0."""
    last = len(net.layers) - 1
    layer = net.layers[last]
    if isinstance(layer, Dense) and np.all(layer.weight == 1) and np.all(layer.bias == 0):
        return [last]
    return []


def train_model(kind, images, target, config, *, max_steps=None, progress=True, checkpoint=None):
    """Build the network ``kind`` (``"detector"`` or ``"cnn"``) and train it on uint8 pairs.

    Parameters
    ----------
    kind : {"detector", "cnn"}
    images : ndarray uint8 (N, 1, 28, 56)
    target : ndarray (N,)
        The pairs' ``target`` (-1 for no digit 0-3).
    config : TrainConfig
    max_steps : int, optional
        Stop early (quick runs).
    progress : bool
    checkpoint : path, optional
        Native-format checkpoint written after every epoch.

    Returns
    -------
    (Sequential, dtd.train.History)
    """
    from ..train import NonPositiveBias, fit

    makers = {"detector": make_detector, "cnn": make_cnn}
    if kind not in makers:
        raise ValueError(f"unknown model kind {kind!r}; choose detector or cnn")
    net = makers[kind](config.init_seed, config.init_scale)
    hist = fit(net, images, presence_target(target), loss="squared", epochs=config.epochs,
               batch_size=config.batch_size, lr=config.lr, momentum=config.momentum, seed=config.shuffle_seed,
               constraint=NonPositiveBias(), frozen=frozen_layers(net), max_steps=max_steps,
               preprocess=lambda b: b / np.float32(255), dtype=np.float32, progress=progress,
               checkpoint=checkpoint)
    return net, hist
