"""A VGG-16-shaped network with random weights (He initialisation, seeded)."""
import numpy as np

from dtd import Sequential
from dtd.layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg16(side=224, classes=1000, dtype=np.float32, seed=0, config=VGG16):
    rng = np.random.default_rng(seed)
    layers, c = [], 3
    for v in config:
        if v == "M":
            layers.append(MaxPool2d(2))
            side //= 2
        else:
            w = rng.normal(0, np.sqrt(2 / (9 * c)), size=(v, c, 3, 3)).astype(dtype)
            layers += [Conv2d(w, np.zeros(v, dtype), padding=1), ReLU()]
            c = v
    dims = [c * side * side, 4096, 4096, classes]
    layers.append(Flatten())
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(Dense(rng.normal(0, np.sqrt(2 / a), size=(b, a)).astype(dtype), np.zeros(b, dtype)))
        if i < len(dims) - 2:
            layers.append(ReLU())
    return Sequential(layers)
