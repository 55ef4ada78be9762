"""Today's architectures in torch, written here in torchvision's shape, and their ONNX exports.

torchvision is not a dependency (nor installable everywhere); these definitions
follow its source closely enough that an export looks like the export of the
torchvision model, and that Zennit's ``ResNetCanonizer`` (which matches by
class, ``BasicBlock`` / ``Bottleneck``, and by the attribute names ``conv1``,
``bn1``, ``relu``, ``conv2``, ``bn2``, ``conv3``, ``bn3``, ``downsample``)
applies to :class:`BasicBlock` / :class:`Bottleneck` once a torchvision stub
names them.  Used by ``tests/test_models_exported.py`` and
``benchmarks/models_table.py`` (which writes ``docs/models.md``).

This module imports without torch (so the doctest collection of ``dtd`` does
not need it); every builder and :func:`export` raise :class:`ImportError`
without it.  Callers (tests) should ``pytest.importorskip("torch")`` first.

The zoo (:data:`ZOO`, built by :func:`build`):

=================  ===================================================================
``resnet18``       BasicBlock ResNet [2, 2, 2, 2] (residual ``Add`` of a signed conv output)
``resnet50``       Bottleneck ResNet [3, 4, 6, 3] (torchvision v1.5: stride on conv2)
``vgg11_bn``       VGG "A" with BatchNorm, ``features`` / ``avgpool`` / ``classifier``
``mobilenet_v2``   ReLU6 (exported as ``Clip``), depthwise convs, linear bottlenecks + residuals
``mobilenet_v3s``  MobileNetV3-small: Hardswish / Hardsigmoid, squeeze-excitation (``Mul`` of two data tensors)
``densenet121``    pre-activation BN-ReLU-Conv, ``Concat`` of all earlier features
``squeezenet1_1``  Fire modules (``Concat``), ``MaxPool2d(ceil_mode=True)``
``inception``      Inception-A/B-like branches, ``Concat``, ``avg_pool2d`` counting the padding
``shufflenet_v2``  channel shuffle (``Reshape``-``Transpose``-``Reshape``), ``chunk`` (``Split``/``Slice``)
``alexnet_lrn``    the 2012 AlexNet with ``nn.LocalResponseNorm`` after conv1 and conv2
``lenet5``         LeNet-5 (ReLU, average pooling), 1x32x32 input
``mlp_sigmoid``    a Sigmoid MLP on a flattened 1x8x8 input
``avgpool_*``      a small CNN with one average pooling variant (``ceil``, ``pad_include``,
                   ``pad_exclude``, ``global``)
=================  ===================================================================

Every builder takes ``width`` (channel scale), ``num_classes`` and the input's
spatial ``size``; ``build(name, "small")`` gives a fast variant (width 1/8 or so,
32x32 or 64x64, shallower where the depth is a parameter), ``build(name, "full")``
the published size at 224x224.  Weights are drawn from ``torch.manual_seed(seed)``:
every convolution and linear layer He-normal (fan-in, so activations stay of order
one, as in a trained net, rather than shrinking until the biases make the output),
every bias N(0, 0.1²); BatchNorm statistics are first calibrated (one training-mode pass over a random
batch, so the activations stay of order one through deep nets) and then made
non-trivial and random: ``running_mean`` shifted, ``running_var`` scaled by a
factor in [0.5, 2], ``weight`` in [0.5, 1.5], ``bias`` ~ N(0, 0.2²), so that
folding BatchNorm is really exercised.  Models are returned in inference mode (``train(False)``).
Inputs (:func:`example_input`) are standard normal clipped to [-3, 3]
(standardised images), so boxes are ``low=-3, high=3``.
"""
import math
import os

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
    _Module = nn.Module
except ImportError:        # the module imports without torch; its builders need it
    torch = F = nn = None
    _Module = object

__all__ = ["ZOO", "ZooEntry", "build", "example_input", "export", "without_biases", "EXPORTERS", "INPUT_LOW",
           "INPUT_HIGH",
           "BasicBlock", "Bottleneck", "ResNet", "VGG", "MobileNetV2", "MobileNetV3Small", "DenseNet",
           "SqueezeNet", "InceptionNet", "ShuffleNetV2", "AlexNetLRN", "LeNet5", "SigmoidMLP", "AvgPoolNet"]

INPUT_LOW, INPUT_HIGH = -3.0, 3.0


def _need_torch():
    if torch is None:
        raise ImportError("dtd.conformance.torch_zoo needs torch: pip install torch")


def _c(channels, width, minimum=4):
    """``channels`` scaled by ``width``, at least ``minimum``."""
    return max(minimum, int(round(channels * width)))


def _make_divisible(v, divisor=8, min_value=None):
    """torchvision's ``_make_divisible`` (channel counts of the MobileNets)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


# --------------------------------------------------------------------------- ResNet (torchvision.models.resnet)

def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation, groups=groups,
                     bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(_Module):
    """torchvision's ``BasicBlock``: conv3x3-BN-ReLU-conv3x3-BN, ``+ identity``, ReLU."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class Bottleneck(_Module):
    """torchvision's ``Bottleneck`` (v1.5, stride on the 3x3 conv): 1x1-3x3-1x1, ``+ identity``, ReLU."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu(out)
        out = self.conv3(out)
        out = self.bn3(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class ResNet(_Module):
    """torchvision's ``ResNet``: conv1 7x7/2, bn1, relu, maxpool 3/2, layer1..4, avgpool (adaptive 1x1), fc.

    ``width`` scales the four stages' widths (64, 128, 256, 512) and the stem.
    """

    def __init__(self, block, layers, num_classes=1000, width=1.0):
        super().__init__()
        planes = [_c(64 * 2 ** i, width) for i in range(4)]
        self.inplanes = planes[0]
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, planes[0], layers[0])
        self.layer2 = self._make_layer(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, planes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


# --------------------------------------------------------------------------- VGG (torchvision.models.vgg)

class VGG(_Module):
    """torchvision's ``VGG``: ``features``, ``avgpool`` (adaptive, to the features' own size: 7x7 at 224),
    ``classifier`` (Linear-ReLU-Dropout twice, Linear)."""

    def __init__(self, cfg, num_classes=1000, width=1.0, size=224, hidden=4096, batch_norm=True):
        super().__init__()
        layers, c = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                v = _c(v, width)
                layers += [nn.Conv2d(c, v, kernel_size=3, padding=1)]
                layers += [nn.BatchNorm2d(v), nn.ReLU(inplace=True)] if batch_norm else [nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        s = size // 32
        self.avgpool = nn.AdaptiveAvgPool2d((s, s))
        h = _c(hidden, width, 8)
        self.classifier = nn.Sequential(nn.Linear(c * s * s, h), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(h, h), nn.ReLU(True), nn.Dropout(), nn.Linear(h, num_classes))

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


# --------------------------------------------------------------------------- MobileNetV2

class ConvBNActivation(nn.Sequential if nn is not None else object):
    """Conv (no bias) - BatchNorm - activation (torchvision's ``Conv2dNormActivation``)."""

    def __init__(self, cin, cout, kernel_size=3, stride=1, groups=1, activation="relu6"):
        padding = (kernel_size - 1) // 2
        layers = [nn.Conv2d(cin, cout, kernel_size, stride, padding, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if activation == "relu6":
            layers.append(nn.ReLU6(inplace=True))
        elif activation == "relu":
            layers.append(nn.ReLU(inplace=True))
        elif activation == "hardswish":
            layers.append(nn.Hardswish(inplace=True))
        super().__init__(*layers)


class InvertedResidual(_Module):
    """MobileNetV2's block: 1x1 expand (ReLU6), depthwise 3x3 (ReLU6), 1x1 linear projection, ``+ x`` when
    the shapes match."""

    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(ConvBNActivation(inp, hidden, kernel_size=1))
        layers += [ConvBNActivation(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(_Module):
    """torchvision's ``MobileNetV2`` (``width_mult`` = ``width``; ``settings`` may be shortened for tests)."""

    SETTINGS = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
                [6, 320, 1, 1]]

    def __init__(self, num_classes=1000, width=1.0, settings=None):
        super().__init__()
        input_channel = _make_divisible(32 * width)
        last_channel = _make_divisible(1280 * max(1.0, width))
        features = [ConvBNActivation(3, input_channel, stride=2)]
        for t, c, n, s in settings or self.SETTINGS:
            output_channel = _make_divisible(c * width)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel, s if i == 0 else 1, t))
                input_channel = output_channel
        features.append(ConvBNActivation(input_channel, last_channel, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last_channel, num_classes))

    def forward(self, x):
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        return self.classifier(x)


# --------------------------------------------------------------------------- MobileNetV3-small

class SqueezeExcitation(_Module):
    """torchvision's SE block: global average pool, 1x1 conv, ReLU, 1x1 conv, Hardsigmoid, times the input."""

    def __init__(self, cin, squeeze):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(cin, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, cin, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x):
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return s * x


class InvertedResidualV3(_Module):
    """MobileNetV3's block: expand (if wider), depthwise, SE (optional), linear projection, residual."""

    def __init__(self, cin, kernel, expanded, cout, use_se, activation, stride):
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        layers = []
        if expanded != cin:
            layers.append(ConvBNActivation(cin, expanded, kernel_size=1, activation=activation))
        layers.append(ConvBNActivation(expanded, expanded, kernel_size=kernel, stride=stride, groups=expanded,
                                       activation=activation))
        if use_se:
            layers.append(SqueezeExcitation(expanded, _make_divisible(expanded // 4, 8)))
        layers += [nn.Conv2d(expanded, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        out = self.block(x)
        if self.use_res_connect:
            out = out + x
        return out


class MobileNetV3Small(_Module):
    """torchvision's ``mobilenet_v3_small`` (``width`` = ``width_mult``; BatchNorm ``eps`` torch's default 1e-5,
    where torchvision uses 1e-3: the statistics are random here anyway)."""

    # input, kernel, expanded, output, SE, activation, stride
    SETTINGS = [(16, 3, 16, 16, True, "relu", 2), (16, 3, 72, 24, False, "relu", 2),
                (24, 3, 88, 24, False, "relu", 1), (24, 5, 96, 40, True, "hardswish", 2),
                (40, 5, 240, 40, True, "hardswish", 1), (40, 5, 240, 40, True, "hardswish", 1),
                (40, 5, 120, 48, True, "hardswish", 1), (48, 5, 144, 48, True, "hardswish", 1),
                (48, 5, 288, 96, True, "hardswish", 2), (96, 5, 576, 96, True, "hardswish", 1),
                (96, 5, 576, 96, True, "hardswish", 1)]

    def __init__(self, num_classes=1000, width=1.0, settings=None):
        super().__init__()
        d = lambda c: _make_divisible(c * width)   # noqa: E731
        settings = settings or self.SETTINGS
        layers = [ConvBNActivation(3, d(settings[0][0]), stride=2, activation="hardswish")]
        for cin, k, e, cout, se, act, s in settings:
            layers.append(InvertedResidualV3(d(cin), k, d(e), d(cout), se, act, s))
        last_in = d(settings[-1][3])
        last_conv = 6 * last_in
        layers.append(ConvBNActivation(last_in, last_conv, kernel_size=1, activation="hardswish"))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        last_channel = _make_divisible(1024 * width)
        self.classifier = nn.Sequential(nn.Linear(last_conv, last_channel), nn.Hardswish(inplace=True),
                                        nn.Dropout(0.2), nn.Linear(last_channel, num_classes))

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


# --------------------------------------------------------------------------- DenseNet

class _DenseLayer(_Module):
    """torchvision's dense layer: BN-ReLU-Conv1x1, BN-ReLU-Conv3x3 over the concatenation of earlier features."""

    def __init__(self, num_input_features, growth_rate, bn_size):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)

    def forward(self, inputs):
        concated = torch.cat(inputs, 1)
        out = self.conv1(self.relu1(self.norm1(concated)))
        return self.conv2(self.relu2(self.norm2(out)))


class _DenseBlock(nn.ModuleDict if nn is not None else object):
    def __init__(self, num_layers, num_input_features, bn_size, growth_rate):
        super().__init__()
        for i in range(num_layers):
            self.add_module("denselayer%d" % (i + 1),
                            _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size))

    def forward(self, init_features):
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class _Transition(nn.Sequential if nn is not None else object):
    def __init__(self, num_input_features, num_output_features):
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(num_input_features))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(num_input_features, num_output_features, kernel_size=1, bias=False))
        self.add_module("pool", nn.AvgPool2d(kernel_size=2, stride=2))


class DenseNet(_Module):
    """torchvision's ``DenseNet`` (121: growth 32, blocks (6, 12, 24, 16), 64 initial features, bn_size 4)."""

    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, bn_size=4,
                 num_classes=1000):
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3,
                                                    bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(num_init_features))
        self.features.add_module("relu0", nn.ReLU(inplace=True))
        self.features.add_module("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add_module("denseblock%d" % (i + 1),
                                     _DenseBlock(num_layers, num_features, bn_size, growth_rate))
            num_features = num_features + num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module("transition%d" % (i + 1), _Transition(num_features, num_features // 2))
                num_features = num_features // 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        features = self.features(x)
        out = F.relu(features, inplace=True)
        out = F.adaptive_avg_pool2d(out, (1, 1))
        out = torch.flatten(out, 1)
        return self.classifier(out)


# --------------------------------------------------------------------------- SqueezeNet 1.1

class Fire(_Module):
    """squeeze 1x1 (ReLU), then expand 1x1 and 3x3 (ReLU each), concatenated."""

    def __init__(self, inplanes, squeeze, expand1x1, expand3x3):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(_Module):
    """torchvision's ``squeezenet1_1``: ceil-mode max pools, Fire modules, a conv classifier, global average."""

    def __init__(self, num_classes=1000, width=1.0):
        super().__init__()
        w = lambda c: _c(c, width)   # noqa: E731
        self.features = nn.Sequential(
            nn.Conv2d(3, w(64), kernel_size=3, stride=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(w(64), w(16), w(64), w(64)), Fire(2 * w(64), w(16), w(64), w(64)),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(2 * w(64), w(32), w(128), w(128)), Fire(2 * w(128), w(32), w(128), w(128)),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(2 * w(128), w(48), w(192), w(192)), Fire(2 * w(192), w(48), w(192), w(192)),
            Fire(2 * w(192), w(64), w(256), w(256)), Fire(2 * w(256), w(64), w(256), w(256)))
        final_conv = nn.Conv2d(2 * w(256), num_classes, kernel_size=1)
        self.classifier = nn.Sequential(nn.Dropout(p=0.5), final_conv, nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        x = self.features(x)
        x = self.classifier(x)
        return torch.flatten(x, 1)


# --------------------------------------------------------------------------- Inception-like

class BasicConv2d(_Module):
    """Inception's conv (no bias) - BatchNorm(eps=0.001) - ReLU."""

    def __init__(self, cin, cout, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


class InceptionA(_Module):
    """torchvision's InceptionA: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg_pool 3/1/1 (counting the padding)-1x1."""

    def __init__(self, cin, pool_features, w):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, w(64), kernel_size=1)
        self.branch5x5_1 = BasicConv2d(cin, w(48), kernel_size=1)
        self.branch5x5_2 = BasicConv2d(w(48), w(64), kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, w(64), kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(w(64), w(96), kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(w(96), w(96), kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, kernel_size=1)
        self.out_channels = w(64) + w(64) + w(96) + pool_features

    def forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(_Module):
    """torchvision's InceptionB (grid reduction): 3x3/2 | 1x1-3x3-3x3/2 | max_pool 3/2."""

    def __init__(self, cin, w):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, w(384), kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, w(64), kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(w(64), w(96), kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(w(96), w(96), kernel_size=3, stride=2)
        self.out_channels = w(384) + w(96) + cin

    def forward(self, x):
        return torch.cat([self.branch3x3(x), self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionNet(_Module):
    """An Inception-v3-like net: a stem, two InceptionA blocks, an InceptionB reduction, one more InceptionA,
    global average pooling and a linear classifier."""

    def __init__(self, num_classes=1000, width=1.0):
        super().__init__()
        w = lambda c: _c(c, width)   # noqa: E731
        self.Conv2d_1a_3x3 = BasicConv2d(3, w(32), kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(w(32), w(64), kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(w(64), w(80), kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(w(80), w(192), kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = InceptionA(w(192), w(32), w)
        self.Mixed_5c = InceptionA(self.Mixed_5b.out_channels, w(64), w)
        self.Mixed_6a = InceptionB(self.Mixed_5c.out_channels, w)
        self.Mixed_6b = InceptionA(self.Mixed_6a.out_channels, w(64), w)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.Mixed_6b.out_channels, num_classes)

    def forward(self, x):
        x = self.maxpool1(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        x = self.Mixed_6b(self.Mixed_6a(self.Mixed_5c(self.Mixed_5b(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


# --------------------------------------------------------------------------- ShuffleNetV2

def channel_shuffle(x, groups):
    """torchvision's channel shuffle: view (N, g, C/g, H, W), transpose 1 and 2, view back."""
    batchsize, num_channels, height, width = x.size()
    channels_per_group = num_channels // groups
    x = x.view(batchsize, groups, channels_per_group, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, num_channels, height, width)


class ShuffleUnit(_Module):
    """torchvision's ShuffleNetV2 ``InvertedResidual``: ``chunk`` in two (stride 1) or two branches (stride 2),
    concatenated, channel-shuffled."""

    def __init__(self, inp, oup, stride):
        super().__init__()
        self.stride = stride
        branch_features = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, bias=False, groups=inp), nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch_features, 1, 1, 0, bias=False), nn.BatchNorm2d(branch_features),
                nn.ReLU(inplace=True))
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else branch_features, branch_features, 1, 1, 0, bias=False),
            nn.BatchNorm2d(branch_features), nn.ReLU(inplace=True),
            nn.Conv2d(branch_features, branch_features, 3, stride, 1, bias=False, groups=branch_features),
            nn.BatchNorm2d(branch_features),
            nn.Conv2d(branch_features, branch_features, 1, 1, 0, bias=False), nn.BatchNorm2d(branch_features),
            nn.ReLU(inplace=True))

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(_Module):
    """torchvision's ``shufflenet_v2_x1_0`` (``stages_out_channels`` scaled by ``width``)."""

    def __init__(self, num_classes=1000, width=1.0, repeats=(4, 8, 4)):
        super().__init__()
        out_channels = [_c(24, width)] + [2 * _c(c // 2, width) for c in (116, 232, 464)] + [_c(1024, width)]
        inp = out_channels[0]
        self.conv1 = nn.Sequential(nn.Conv2d(3, inp, 3, 2, 1, bias=False), nn.BatchNorm2d(inp), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for name, n, oup in zip(("stage2", "stage3", "stage4"), repeats, out_channels[1:4]):
            seq = [ShuffleUnit(inp, oup, 2)] + [ShuffleUnit(oup, oup, 1) for _ in range(n - 1)]
            setattr(self, name, nn.Sequential(*seq))
            inp = oup
        self.conv5 = nn.Sequential(nn.Conv2d(inp, out_channels[-1], 1, 1, 0, bias=False),
                                   nn.BatchNorm2d(out_channels[-1]), nn.ReLU(inplace=True))
        self.fc = nn.Linear(out_channels[-1], num_classes)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.stage4(self.stage3(self.stage2(x)))
        x = self.conv5(x)
        x = x.mean([2, 3])
        return self.fc(x)


# --------------------------------------------------------------------------- AlexNet with LRN, LeNet-5, MLP, pools

class AlexNetLRN(_Module):
    """The 2012 AlexNet (single-tower): ``nn.LocalResponseNorm(5, 1e-4, 0.75, 2)`` after the first two
    conv-ReLUs, then torchvision's ``features`` / ``classifier``; its ``avgpool`` (adaptive, to 6x6, the
    features' own size at 224) is an ``nn.Identity`` here, which the TorchScript exporter can export."""

    def __init__(self, num_classes=1000, width=1.0, size=224, hidden=4096):
        super().__init__()
        w = lambda c: _c(c, width)   # noqa: E731
        self.features = nn.Sequential(
            nn.Conv2d(3, w(64), kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0), nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(w(64), w(192), kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0), nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(w(192), w(384), kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(w(384), w(256), kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(w(256), w(256), kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2))
        s = size
        for k, st, p in ((11, 4, 2), (3, 2, 0), (3, 2, 0), (3, 2, 0)):
            s = (s + 2 * p - k) // st + 1
        # torchvision's AdaptiveAvgPool2d((6, 6)) is the identity on the 6x6 features at 224; the TorchScript
        # exporter cannot export it after the LRN subgraph ("input size not accessible"), so it is left out
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1)) if s == 1 else nn.Identity()
        h = _c(hidden, width, 8)
        self.classifier = nn.Sequential(nn.Dropout(), nn.Linear(w(256) * s * s, h), nn.ReLU(inplace=True),
                                        nn.Dropout(), nn.Linear(h, h), nn.ReLU(inplace=True), nn.Linear(h, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class LeNet5(_Module):
    """LeNet-5 on 1x32x32: conv 5x5 (6) - ReLU - avgpool 2 - conv 5x5 (16) - ReLU - avgpool 2 - 120 - 84 - classes."""

    def __init__(self, num_classes=10, width=1.0):
        super().__init__()
        w = lambda c: _c(c, width)   # noqa: E731
        self.features = nn.Sequential(nn.Conv2d(1, w(6), 5), nn.ReLU(), nn.AvgPool2d(2),
                                      nn.Conv2d(w(6), w(16), 5), nn.ReLU(), nn.AvgPool2d(2))
        self.classifier = nn.Sequential(nn.Linear(w(16) * 25, w(120)), nn.ReLU(), nn.Linear(w(120), w(84)),
                                        nn.ReLU(), nn.Linear(w(84), num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class SigmoidMLP(_Module):
    """Flatten - Linear - Sigmoid - Linear - Sigmoid - Linear (an input of ``size`` x ``size``, one channel)."""

    def __init__(self, num_classes=10, width=1.0, size=8):
        super().__init__()
        h = _c(256, width)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(size * size, h), nn.Sigmoid(), nn.Linear(h, h),
                                 nn.Sigmoid(), nn.Linear(h, num_classes))

    def forward(self, x):
        return self.net(x)


class AvgPoolNet(_Module):
    """conv 3x3 - ReLU - one average pooling ``variant`` - conv 3x3 - ReLU - global average - Linear.

    ``variant``: ``"ceil"`` (``AvgPool2d(3, 2, ceil_mode=True)``), ``"pad_include"`` (``AvgPool2d(3, 2, 1)``,
    counting the zero padding), ``"pad_exclude"`` (``count_include_pad=False``), ``"global"``
    (``AdaptiveAvgPool2d(1)`` in place of the pool, then the classifier on the pooled channels).
    """

    def __init__(self, variant="ceil", num_classes=10, width=1.0):
        super().__init__()
        c1, c2 = _c(32, width), _c(64, width)
        self.variant = variant
        self.conv1 = nn.Conv2d(3, c1, 3, padding=1)
        pools = {"ceil": lambda: nn.AvgPool2d(3, 2, ceil_mode=True),
                 "pad_include": lambda: nn.AvgPool2d(3, 2, padding=1),
                 "pad_exclude": lambda: nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
                 "global": lambda: nn.AdaptiveAvgPool2d(1)}
        if variant not in pools:
            raise ValueError("AvgPoolNet variant must be one of %s, got %r" % (sorted(pools), variant))
        self.pool = pools[variant]()
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc = nn.Linear(c2, num_classes)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = F.relu(self.conv2(x))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


# --------------------------------------------------------------------------- the zoo

class ZooEntry:
    """One architecture: ``make(width, num_classes, size) -> nn.Module``, its input channels, and the
    keyword arguments of its ``"small"`` and ``"full"`` variants (``width``, ``size``, ``num_classes`` and any
    depth argument of ``make``)."""

    def __init__(self, make, channels, small, full, note=""):
        self.make, self.channels, self.small, self.full, self.note = make, channels, small, full, note


def _resnet(block, layers):
    return lambda width=1.0, num_classes=1000, size=224, layers_=None: ResNet(block, layers_ or layers,
                                                                              num_classes, width)


ZOO = {
    "resnet18": ZooEntry(_resnet(BasicBlock, [2, 2, 2, 2]), 3,
                         dict(width=1 / 8, size=32, num_classes=10), dict(width=1.0, size=224, num_classes=1000)),
    "resnet50": ZooEntry(_resnet(Bottleneck, [3, 4, 6, 3]), 3,
                         dict(width=1 / 8, size=32, num_classes=10, layers_=[1, 1, 1, 1]),
                         dict(width=1.0, size=224, num_classes=1000)),
    "vgg11_bn": ZooEntry(lambda width=1.0, num_classes=1000, size=224:
                         VGG(VGG11, num_classes, width, size), 3,
                         dict(width=1 / 8, size=32, num_classes=10), dict(width=1.0, size=224, num_classes=1000)),
    "mobilenet_v2": ZooEntry(lambda width=1.0, num_classes=1000, size=224, settings=None:
                             MobileNetV2(num_classes, width, settings), 3,
                             dict(width=0.25, size=32, num_classes=10,
                                  settings=[[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2], [6, 64, 1, 2]]),
                             dict(width=1.0, size=224, num_classes=1000)),
    "mobilenet_v3s": ZooEntry(lambda width=1.0, num_classes=1000, size=224, settings=None:
                              MobileNetV3Small(num_classes, width, settings), 3,
                              dict(width=0.25, size=32, num_classes=10,
                                   settings=MobileNetV3Small.SETTINGS[:5]),
                              dict(width=1.0, size=224, num_classes=1000)),
    "densenet121": ZooEntry(lambda width=1.0, num_classes=1000, size=224, block_config=(6, 12, 24, 16):
                            DenseNet(_c(32, width), block_config, _c(64, width), 4, num_classes), 3,
                            dict(width=1 / 8, size=32, num_classes=10, block_config=(2, 2, 2, 2)),
                            dict(width=1.0, size=224, num_classes=1000)),
    "squeezenet1_1": ZooEntry(lambda width=1.0, num_classes=1000, size=224: SqueezeNet(num_classes, width), 3,
                              dict(width=1 / 8, size=32, num_classes=10), dict(width=1.0, size=224, num_classes=1000)),
    "inception": ZooEntry(lambda width=1.0, num_classes=1000, size=224: InceptionNet(num_classes, width), 3,
                          dict(width=1 / 8, size=48, num_classes=10), dict(width=1.0, size=224, num_classes=1000)),
    "shufflenet_v2": ZooEntry(lambda width=1.0, num_classes=1000, size=224, repeats=(4, 8, 4):
                              ShuffleNetV2(num_classes, width, repeats), 3,
                              dict(width=1 / 4, size=32, num_classes=10, repeats=(2, 2, 1)),
                              dict(width=1.0, size=224, num_classes=1000)),
    "alexnet_lrn": ZooEntry(lambda width=1.0, num_classes=1000, size=224: AlexNetLRN(num_classes, width, size), 3,
                            dict(width=1 / 8, size=64, num_classes=10), dict(width=1.0, size=224, num_classes=1000)),
    "lenet5": ZooEntry(lambda width=1.0, num_classes=10, size=32: LeNet5(num_classes, width), 1,
                       dict(width=1.0, size=32, num_classes=10), dict(width=1.0, size=32, num_classes=10)),
    "mlp_sigmoid": ZooEntry(lambda width=1.0, num_classes=10, size=8: SigmoidMLP(num_classes, width, size), 1,
                            dict(width=1 / 4, size=8, num_classes=10), dict(width=1.0, size=28, num_classes=10)),
}
for _v in ("ceil", "pad_include", "pad_exclude", "global"):
    ZOO["avgpool_" + _v] = ZooEntry(
        (lambda v: lambda width=1.0, num_classes=10, size=32: AvgPoolNet(v, num_classes, width))(_v), 3,
        dict(width=1 / 4, size=15, num_classes=10), dict(width=1.0, size=64, num_classes=10))
del _v


def _init_weights(model, generator):
    """Every Conv2d / Linear: He-normal weights (fan-in, ReLU gain: activations stay of order one through
    the depth, where torch's default init shrinks them ~2.4x per layer and the biases would end up making
    the output), biases N(0, 0.1²)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * math.sqrt(2.0 / fan_in))
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=generator))


def _randomise_batchnorm(model, channels, size, generator):
    """Calibrate BatchNorm statistics on one random batch (training mode, cumulative average), then perturb:
    mean + N(0, 0.1²) std, var x U[0.5, 2], weight U[0.5, 1.5], bias N(0, 0.2²)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(8, channels, size, size, generator=generator).clamp_(INPUT_LOW, INPUT_HIGH))
        for m in bns:
            n = m.num_features
            std = m.running_var.sqrt()
            m.running_mean.add_(0.1 * std * torch.randn(n, generator=generator))
            m.running_var.mul_(torch.exp(math.log(2.0) * (2 * torch.rand(n, generator=generator) - 1)))
            m.weight.copy_(0.5 + torch.rand(n, generator=generator))
            m.bias.copy_(0.2 * torch.randn(n, generator=generator))


def build(name, variant="small", seed=0, **overrides):
    """Build a zoo model, deterministically initialised, in inference mode, float32.

    Parameters
    ----------
    name : str
        A key of :data:`ZOO`.
    variant : {"small", "full"}
        The entry's small (fast, for tests) or full (published size, 224x224) keyword arguments.
    seed : int
        ``torch.manual_seed`` for the weights and the BatchNorm statistics.
    **overrides
        Replace any of the variant's keyword arguments (``width``, ``size``, ``num_classes``, depth).

    Returns
    -------
    model : torch.nn.Module
    input_shape : tuple
        ``(1, C, size, size)``.
    """
    _need_torch()
    if name not in ZOO:
        raise KeyError("no zoo model %r; there are %s" % (name, ", ".join(ZOO)))
    entry = ZOO[name]
    if variant not in ("small", "full"):
        raise ValueError("variant must be 'small' or 'full', got %r" % (variant,))
    kwargs = dict(entry.small if variant == "small" else entry.full, **overrides)
    torch.manual_seed(seed)
    model = entry.make(**kwargs)
    gen = torch.Generator().manual_seed(seed + 1)
    _init_weights(model, gen)
    _randomise_batchnorm(model, entry.channels, kwargs["size"], gen)
    model.train(False)                     # inference mode (torch's Module.eval)
    return model, (1, entry.channels, kwargs["size"], kwargs["size"])


def example_input(shape, seed=0, dtype=None):
    """Standard normal input of ``shape`` clipped to [INPUT_LOW, INPUT_HIGH] = [-3, 3] (a torch tensor)."""
    _need_torch()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=gen).clamp_(INPUT_LOW, INPUT_HIGH)
    return x if dtype is None else x.to(dtype)


def without_biases(net):
    r"""A copy of the dtd network ``net`` with every layer's ``bias`` and ``shift`` array set to zero.

    Each :class:`~dtd.layers.Dense` / :class:`~dtd.layers.Conv2d` (grouped included) bias and each
    :class:`~dtd.layers.Affine` shift (the folded BatchNorm shifts among them): the network
    :math:`f(x)` becomes positively homogeneous when its nonlinearities are (ReLU, max pooling), so a
    conservative explanation has :math:`\sum_i R_i = f_c(x)` exactly.  Needs no torch.

    >>> from dtd import Sequential
    >>> from dtd.layers import Dense
    >>> net = without_biases(Sequential([Dense([[1.0, 2.0]], [3.0])]))
    >>> net.forward(np.array([[1.0, 1.0]])).tolist()
    [[3.0]]
    """
    import copy

    import numpy as np
    net = copy.deepcopy(net)
    ops = [n.op for n in net.nodes] if hasattr(net, "nodes") else list(net.layers)
    for op in ops:
        for key in ("bias", "shift"):
            a = getattr(op, key, None)
            if isinstance(a, np.ndarray):
                setattr(op, key, np.zeros_like(a))
    return net


#: exporter name -> (dynamo, opset_version); ``None`` lets torch choose (the dynamo exporter's default)
EXPORTERS = {"ts13": (False, 13), "ts17": (False, 17), "dynamo": (True, None)}


def export(model, shape, path, exporter="ts17", dtype="float32", external_data=True):
    """Export ``model`` to ONNX at ``path`` with one of torch's exporters.

    Parameters
    ----------
    model : torch.nn.Module
        In eval mode (not modified: a float64 export exports a copy).
    shape : tuple
        The example input's shape ``(1, C, H, W)``.
    path : str or os.PathLike
    exporter : {"ts13", "ts17", "dynamo"}
        TorchScript exporter (``dynamo=False``) at opset 13 or 17, or the dynamo exporter (``dynamo=True``,
        torch's default opset; weights go to ``path + ".data"`` unless ``external_data=False``).
    dtype : {"float32", "float64"}
    external_data : bool
        Passed to the dynamo exporter only.

    Returns
    -------
    str
        ``path``.
    """
    import copy
    import warnings
    _need_torch()
    dynamo, opset = EXPORTERS[exporter]
    tdtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    m = model if dtype == "float32" else copy.deepcopy(model).to(tdtype)
    x = example_input(shape, dtype=tdtype)
    path = os.fspath(path)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if dynamo:
            _quiet(lambda: torch.onnx.export(m, (x,), path, dynamo=True, external_data=external_data,
                                             input_names=["input"], output_names=["logits"]))
        else:
            torch.onnx.export(m, (x,), path, dynamo=False, opset_version=opset, input_names=["input"],
                              output_names=["logits"])
    return path


def _quiet(fn):
    """Run ``fn`` with the dynamo exporter's progress messages (stdout) and its logging silenced."""
    import contextlib
    import io
    import logging
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return fn()
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)
