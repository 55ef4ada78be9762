"""Today's architectures, exported by torch's exporters, loaded by dtd (issue 14, "Tests and measurements").

The models are the small variants of :mod:`dtd.conformance.torch_zoo` (torchvision-shaped ResNet-18/50,
VGG-11-BN, MobileNetV2, MobileNetV3-small, DenseNet-121, SqueezeNet 1.1, an Inception-like net,
ShuffleNetV2, AlexNet with ``nn.LocalResponseNorm``, LeNet-5, a Sigmoid MLP, four average-pooling
variants; BatchNorm statistics random, so folding is exercised), exported once per module (cached in
``tmp_path_factory``) with the TorchScript exporter (``ts17``: opset 17, and ``ts13`` for a few models) and
the dynamo exporter (``dynamo``: torch's default opset, weights in an external ``.onnx.data`` file; every
model; the file runs in ~70 s on 2 cores).

References and tolerances (every comparison is against an independent computation):

* float32 forward against onnxruntime on the same file: ``|dtd - ort| <= 1e-5 |ort| + 1e-5 max|ort|``
  (two float32 implementations summing in different orders; the floor is for logits near zero);
* float64 forward (the model exported after ``model.double()``) against torch in float64:
  ``|dtd - torch| <= 1e-10 |torch| + 1e-10 max|torch|`` (BatchNorm folding and summation order only);
  1e-7 for MobileNetV3-small, whose file holds HardSigmoid's ``alpha = 1/6`` as a float32 attribute;
* conservation, the issue's bounds, float64, 2 inputs (standard normal clipped to [-3, 3]; box presets
  get ``low=-3, high=3``), ``c`` the argmax: with the models' own biases ``sum(R) / f_c(x)`` in
  [-0.1, 1.1]; with every bias set to zero (:func:`~dtd.conformance.torch_zoo.without_biases`) within 1e-4
  of 1, for ``epsilon-plus``, ``epsilon-gamma-box``, ``epsilon-alpha2-beta1`` (whose ``AlphaBeta`` has
  ``one_sided='conserve'``: a neuron with an empty negative part sends ``R_j`` through its positive part
  instead of ``alpha R_j``) and ``dtd``.  ``lrp-composition`` cannot meet the zero-bias bound by design: its
  middle third gets ``Epsilon(0.25)``, which absorbs relevance (0.46-0.96 of f_c on the small variants,
  figures in ``docs/models.md``, ``python benchmarks/models_table.py``), so for it the zero-bias test is
  one-sided: no relevance created, ``sum(R) / f_c <= 1 + 1e-4``, and not all of it lost, ``> 0``.

The presets' biases only absorb (``bias="absorb"``: a neuron passes on ``t_j R_j``, ``t_j`` in [0, 1]) and their
residual ``Add`` nodes take signed z+; with Zennit's conventions (``bias="plain"``, the bias in the denominators)
a negative bias makes the inputs' share exceed ``R_j`` (ResNet-18 1.29, ResNet-50 1.39 at full size with
epsilon-gamma-box before the change).  Where a bound is still not met, ``KNOWN_GAPS`` holds the measured reason
and the case is a strict xfail.  Failures name model, exporter and preset in the test id.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import dtd  # noqa: E402
from dtd.conformance import torch_zoo as zoo  # noqa: E402
from dtd.io import load_onnx  # noqa: E402

LOADING = list(zoo.ZOO)
#: the dynamo exporter on every model of the zoo (its external .onnx.data file, ReduceMean pooling, its own
#: spellings of Clip, Hardswish, the LRN subgraph and the channel shuffle)
DYNAMO = list(zoo.ZOO)
#: float64 forward tolerance where the file cannot hold the float64 model: ONNX float attributes are float32,
#: and MobileNetV3's HardSigmoid (``alpha`` = 1/6) is written as 0.16666667163 (relative error 3e-8)
F64_RTOL = {"mobilenet_v3s": 1e-7}
TS13 = ["resnet18", "mobilenet_v2", "alexnet_lrn"]
CASES = ([(m, "ts17") for m in LOADING] + [(m, "dynamo") for m in DYNAMO] + [(m, "ts13") for m in TS13])
IDS = [f"{m}-{e}" for m, e in CASES]
PRESETS = ("epsilon-plus", "epsilon-gamma-box", "epsilon-alpha2-beta1", "dtd", "lrp-composition")
BOX = {"epsilon-gamma-box", "dtd", "lrp-composition"}


def _need_exporter(exporter):
    """The dynamo exporter needs onnxscript."""
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")


class _Cache:
    """Models, exports and loaded networks, made on first use and kept for the module."""

    def __init__(self, folder):
        self.folder, self.models, self.files, self.nets = folder, {}, {}, {}

    def model(self, name):
        if name not in self.models:
            self.models[name] = zoo.build(name, "small")
        return self.models[name]

    def file(self, name, exporter, dtype):
        key = name, exporter, dtype
        if key not in self.files:
            model, shape = self.model(name)
            self.files[key] = zoo.export(model, shape, self.folder / f"{name}-{exporter}-{dtype}.onnx",
                                         exporter, dtype)
        return self.files[key]

    def net(self, name, exporter, dtype):
        """The loaded network, or the exception loading raised (re-raised by the caller's test)."""
        key = name, exporter, dtype
        if key not in self.nets:
            try:
                self.nets[key] = load_onnx(self.file(name, exporter, dtype))
            except Exception as e:      # noqa: BLE001 (each test that needs the network re-raises it)
                self.nets[key] = e
        if isinstance(self.nets[key], Exception):
            raise self.nets[key]
        return self.nets[key]

    def inputs(self, name, n=2, dtype=np.float32):
        _, shape = self.model(name)
        return zoo.example_input((n,) + tuple(shape[1:]), seed=1).numpy().astype(dtype)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return _Cache(tmp_path_factory.mktemp("zoo"))


def _preset(name, **extra):
    kw = dict(low=zoo.INPUT_LOW, high=zoo.INPUT_HIGH) if name in BOX else {}
    return dtd.composites.get(name, **kw, **extra)


def _ort_run(sess, x):
    """onnxruntime's output, one sample at a time (the exports have a fixed batch of 1)."""
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


def _ratios(net, x, preset, **extra):
    """``sum(R) / f_c(x)`` per sample, c the argmax, float64."""
    out = net.forward(x)
    c = np.argmax(out, axis=1)
    fc = out[np.arange(len(x)), c]
    assert np.all(fc != 0)
    R = net.explain(x, _preset(preset, **extra), target=c)
    return R.reshape(len(x), -1).sum(axis=1, dtype=np.float64) / fc


# ------------------------------------------------------------------------------------------ the zoo itself

TORCHVISION_PARAMS = {"resnet18": 11_689_512, "resnet50": 25_557_032, "vgg11_bn": 132_868_840,
                      "mobilenet_v2": 3_504_872, "mobilenet_v3s": 2_542_856, "densenet121": 7_978_856,
                      "squeezenet1_1": 1_235_496, "shufflenet_v2": 2_278_604, "alexnet_lrn": 61_100_840}


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_full_variants_have_torchvisions_parameter_counts(name):
    """The full variants are torchvision's models: same parameter count as torchvision's published one
    (``alexnet_lrn``: torchvision's AlexNet, the LRN layers have no parameters).  Built on the meta device."""
    entry = zoo.ZOO[name]
    with torch.device("meta"):
        model = entry.make(**entry.full)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS[name]


def test_resnet_blocks_have_torchvisions_names():
    """Zennit's ResNetCanonizer finds blocks by class name and these attributes."""
    model, _ = zoo.build("resnet50", "small")
    blocks = [m for m in model.modules() if type(m).__name__ == "Bottleneck"]
    assert blocks and all(hasattr(b, a) for b in blocks
                          for a in ("conv1", "bn1", "relu", "conv2", "bn2", "conv3", "bn3", "downsample"))
    assert [n for n, _ in model.named_children()] == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2",
                                                      "layer3", "layer4", "avgpool", "fc"]


def test_batchnorm_statistics_are_not_trivial():
    model, _ = zoo.build("resnet18", "small")
    bn = model.layer1[0].bn1
    assert bn.running_mean.abs().min() > 0 and (bn.running_var - 1).abs().min() > 0
    assert (bn.weight - 1).abs().min() > 0 and bn.bias.abs().min() > 0


# ------------------------------------------------------------------------------------------ load and forward

@pytest.mark.parametrize("name, exporter", CASES, ids=IDS)
def test_forward_matches_onnxruntime_float32(cache, name, exporter):
    _need_exporter(exporter)
    net = cache.net(name, exporter, "float32")
    x = cache.inputs(name)
    sess = ort.InferenceSession(cache.file(name, exporter, "float32"), providers=["CPUExecutionProvider"])
    ref = _ort_run(sess, x)
    y = net.forward(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("name, exporter", CASES, ids=IDS)
def test_forward_matches_torch_float64(cache, name, exporter):
    _need_exporter(exporter)
    net = cache.net(name, exporter, "float64")
    x = cache.inputs(name, dtype=np.float64)
    model, _ = cache.model(name)
    import copy
    with torch.no_grad():
        ref = copy.deepcopy(model).double()(torch.from_numpy(x)).numpy()
    y = net.forward(x)
    assert y.dtype == np.float64
    tol = F64_RTOL.get(name, 1e-10)
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol * np.abs(ref).max())


# ------------------------------------------------------------------------------------------ conservation

CONS = [(m, e, p) for m, e in CASES for p in PRESETS]
CONS_IDS = [f"{m}-{e}-{p}" for m, e, p in CONS]

#: Where the issue's bounds are not met (measured on the small variants; the same for every exporter of a model).  At
#: full size (docs/models.md) these small-variant misses are inside, and others are outside: densenet121
#: lrp-composition -0.61, the avgpool variants' epsilon-gamma-box 1.15-1.16 and avgpool_global's alpha-beta 1.13 (the
#: top Dense layer's epsilon rule splits f_c into +7.4 / -6.4 f_c, which the biases then absorb unevenly), and the
#: Sigmoid MLP without biases 1.00058.  Each is a strict xfail, so a change that meets a bound shows up as XPASS.
_BIAS_ONLY = ("alpha-beta's two-signed relevance (each layer sends alpha R_j and -beta R_j) meets neurons whose inputs "
              "contribute nothing (the corners of a padded 3x3 depthwise window on the small variants' 2x2 and 4x4 "
              "maps, after ReLU6): their bias holds all of the output and keeps R_j of either sign, and the net sum "
              "swings (mobilenet_v2 -0.13, mobilenet_v3s 4.3, shufflenet_v2 -0.26)")
_SIGMOID = ("relevance passed through a sigmoid does not vanish with its pre-activation z_j, so the epsilon rule below "
            "splits it into large two-signed messages; their biases then absorb unevenly (docs/graphs.md)")
KNOWN_GAPS = {
    "own": {
        ("mobilenet_v2", "epsilon-alpha2-beta1"): _BIAS_ONLY,
        ("mobilenet_v3s", "epsilon-alpha2-beta1"): _BIAS_ONLY,
        ("shufflenet_v2", "epsilon-alpha2-beta1"): _BIAS_ONLY,
        ("mlp_sigmoid", "epsilon-plus"): _SIGMOID + " (-0.83)",
        ("mlp_sigmoid", "epsilon-alpha2-beta1"): _SIGMOID + " (-0.83; the MLP has no convolution: epsilon only)",
    },
    "zero": {
        ("mlp_sigmoid", "epsilon-plus"): "epsilon 1e-6 at a pre-activation of ~4e-3 below a sigmoid (0.99976)",
        ("mlp_sigmoid", "epsilon-alpha2-beta1"): "epsilon 1e-6 at a pre-activation of ~4e-3 below a sigmoid",
    },
}


def _cons_params(which):
    out = []
    for m, e, p in CONS:
        why = KNOWN_GAPS[which].get((m, p))
        marks = [pytest.mark.xfail(strict=True, reason=f"issue 14, open: {why}")] if why else []
        out.append(pytest.param(m, e, p, marks=marks, id=f"{m}-{e}-{p}"))
    return out


@pytest.mark.parametrize("name, exporter, preset", _cons_params("own"))
def test_conservation_with_own_biases(cache, name, exporter, preset):
    """No preset creates relevance: ``sum(R) / f_c`` in [-0.1, 1.1] with the models' signed biases."""
    _need_exporter(exporter)
    r = _ratios(cache.net(name, exporter, "float64"), cache.inputs(name, dtype=np.float64), preset)
    assert np.all((r >= -0.1) & (r <= 1.1)), f"sum(R)/f_c = {r.tolist()}"


@pytest.mark.parametrize("name, exporter, preset", _cons_params("zero"))
def test_conservation_without_biases(cache, name, exporter, preset):
    """Every bias zero: ``sum(R) / f_c`` within 1e-4 of 1 (lrp-composition: in (0, 1 + 1e-4], see above)."""
    _need_exporter(exporter)
    net = zoo.without_biases(cache.net(name, exporter, "float64"))
    r = _ratios(net, cache.inputs(name, dtype=np.float64), preset)
    if preset == "lrp-composition":
        assert np.all((r > 0) & (r <= 1 + 1e-4)), f"sum(R)/f_c = {r.tolist()}"
    else:
        assert np.all(np.abs(r - 1) <= 1e-4), f"sum(R)/f_c = {r.tolist()}"


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "vgg11_bn", "inception", "squeezenet1_1", "lenet5"])
@pytest.mark.parametrize("preset", ["epsilon-gamma-box", "epsilon-alpha2-beta1"])
def test_presets_without_biases_in_the_rules_conserve(cache, name, preset):
    """``bias="none"`` on a preset (the biases left out of every rule, docs/graphs.md 3a): with the models' own
    biases the layers conserve, ``sum(R) / f_c`` within 1e-4 of 1 (``epsilon=1e-6`` absorbs ~1e-6 per layer),
    on the models where no neuron's inputs cancel to ~0 (the MobileNets' are the measured counter-examples).

    Not ``epsilon-plus``: its z+ (as z+ always does) drops the relevance of a neuron that has no contribution
    of its output's sign, which a bias of that sign makes possible: 0.965 of f_c on ResNet-18 (small), all of
    the loss in the 1x1 downsample convolution whose signed output reaches the residual Add."""
    net = cache.net(name, "ts17", "float64")
    rules = net.rule_list(_preset(preset, bias="none")) if isinstance(net, dtd.Sequential) else \
        [r for r in net.rule_dict(_preset(preset, bias="none")).values()]
    assert any(getattr(r, "bias", None) == "none" for r in rules)
    assert not any(getattr(r, "bias", None) in ("absorb", "plain", "gamma", "parts") for r in rules)
    r = _ratios(net, cache.inputs(name, dtype=np.float64), preset, bias="none")
    assert np.all(np.abs(r - 1) <= 1e-4), f"sum(R)/f_c = {r.tolist()}"
