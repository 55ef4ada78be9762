"""Helpers of the cross-checks with Zennit and Captum: import the peers (or skip), convert a dtd network to torch.

Zennit 0.5.1 imports torchvision at start-up (for its ResNet canonizers); when
torchvision is not installed, a stub stands in for it whose
``torchvision.models.resnet.BasicBlock``/``Bottleneck`` are the torchvision-shaped
classes of ``dtd.conformance.torch_zoo``, so that ``zennit.torchvision.ResNetCanonizer``
(which matches blocks by ``isinstance``) applies to the zoo's ResNets.  The stub
must be in place before zennit is first imported: zennit binds the classes then.
"""
import sys
import types

import numpy as np
import pytest

from dtd import Sequential
from dtd.layers import AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, ReLU


def import_torch():
    return pytest.importorskip("torch")


def _stub_torchvision():
    try:
        import torchvision.models.resnet  # noqa: F401
        return
    except ImportError:
        pass
    tv = types.ModuleType("torchvision")
    models = types.ModuleType("torchvision.models")
    resnet = types.ModuleType("torchvision.models.resnet")

    try:                # the zoo's torchvision-shaped blocks, for zennit.torchvision.ResNetCanonizer
        from dtd.conformance.torch_zoo import BasicBlock, Bottleneck
    except ImportError:
        class Bottleneck:   # stand-ins: zennit.torchvision only names them
            pass

        class BasicBlock:
            pass

    resnet.Bottleneck, resnet.BasicBlock = Bottleneck, BasicBlock
    tv.models, models.resnet = models, resnet
    sys.modules.update({"torchvision": tv, "torchvision.models": models, "torchvision.models.resnet": resnet})


def import_zennit():
    """``(torch, zennit)``, or skip the test."""
    torch = import_torch()
    _stub_torchvision()
    zennit = pytest.importorskip("zennit")
    import zennit.attribution  # noqa: F401
    import zennit.composites  # noqa: F401
    import zennit.rules  # noqa: F401
    import zennit.types  # noqa: F401
    return torch, zennit


def import_captum():
    """``(torch, captum.attr)``, or skip the test."""
    torch = import_torch()
    pytest.importorskip("captum")
    attr = pytest.importorskip("captum.attr")
    return torch, attr


def to_torch(net):
    """A torch module computing the same function as the dtd Sequential ``net`` (float64).

    Flatten is done functionally inside ``forward`` (Captum's LRP refuses an
    ``nn.Flatten`` module); every other layer is its own module, used once.
    """
    torch = import_torch()

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            mods, self.flatten_at = [], []
            for i, layer in enumerate(net.layers):
                if isinstance(layer, Dense):
                    m = torch.nn.Linear(layer.weight.shape[1], layer.weight.shape[0], dtype=torch.float64)
                elif isinstance(layer, Conv2d):
                    m = torch.nn.Conv2d(layer.weight.shape[1], layer.weight.shape[0], tuple(layer.weight.shape[2:]),
                                        stride=layer.stride, padding=layer.padding, dtype=torch.float64)
                elif isinstance(layer, ReLU):
                    m = torch.nn.ReLU()
                elif isinstance(layer, MaxPool2d):
                    m = torch.nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
                elif isinstance(layer, AvgPool2d):
                    m = torch.nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding)
                elif isinstance(layer, Flatten):
                    self.flatten_at.append(i)
                    continue
                else:
                    raise TypeError(type(layer).__name__)
                if isinstance(layer, (Dense, Conv2d)):      # float64 parameters: the copies are exact
                    with torch.no_grad():
                        m.weight.copy_(torch.from_numpy(layer.weight))
                        m.bias.copy_(torch.from_numpy(layer.bias))
                mods.append(m)
            self.layers = torch.nn.ModuleList(mods)

        def forward(self, x):
            k = 0
            for i in range(len(self.layers) + len(self.flatten_at)):
                if i in self.flatten_at:
                    x = x.reshape(x.shape[0], -1)
                else:
                    x = self.layers[k](x)
                    k += 1
            return x

    return Net().double()


def random_net(kind, bias, seed):
    """Seeded float64 networks: ``"conv"`` (Conv-ReLU-AvgPool-Conv-ReLU-MaxPool-Flatten-Dense-ReLU-Dense, 1x6x6
    input) or ``"dense"`` (Dense-ReLU-Dense-ReLU-Dense, 8 inputs); ``bias`` False gives zero biases."""
    rng = np.random.default_rng(seed)

    def b(n):
        return rng.normal(scale=0.3, size=n) if bias else np.zeros(n)

    if kind == "conv":
        layers = [Conv2d(rng.normal(size=(4, 2, 3, 3)), b(4), padding=1), ReLU(), AvgPool2d(2),
                  Conv2d(rng.normal(size=(5, 4, 2, 2)), b(5), padding=1), ReLU(), MaxPool2d(2), Flatten(),
                  Dense(rng.normal(size=(6, 20)), b(6)), ReLU(), Dense(rng.normal(size=(3, 6)), b(3))]
        shape = (2, 6, 6)
    elif kind == "dense":
        layers = [Dense(rng.normal(size=(7, 8)), b(7)), ReLU(), Dense(rng.normal(size=(5, 7)), b(5)), ReLU(),
                  Dense(rng.normal(size=(3, 5)), b(3))]
        shape = (8,)
    else:
        raise ValueError(kind)
    return Sequential(layers), shape


def random_input(shape, signed, seed, n=4):
    rng = np.random.default_rng(seed + 1000)
    x = rng.uniform(-1.0, 1.0, size=(n,) + shape)
    return x if signed else np.abs(x)


def rel_diff(a, b):
    """``max |a - b| / max |b|``: the normwise relative difference used in the cross-checks."""
    return float(np.abs(a - b).max() / np.abs(b).max())
