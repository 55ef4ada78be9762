"""Bad input gives a clear exception: its type and its message are checked (issue 2, item 7).

Conventions: ``TypeError`` for the wrong kind of thing (an integer dtype, a list
instead of an array, a rule given to a layer it does not apply to), ``ValueError``
for the wrong value (shape, channel count, NaN/Inf, empty batch, a target out of
range, bounds that do not fit, a kernel larger than the input).
"""
import numpy as np
import pytest

import dtd
from dtd import composites
from dtd.layers import LRN, AvgPool2d, Conv2d, Dense, Flatten, LpPool2d, MaxPool2d, ReLU, SumPool2d
from dtd.rules import (AlphaBeta, Epsilon, Gamma, LRNIdentity, LRNTaylor, PassThrough, Proportional,
                       WinnerTakeAll, ZBox, ZPlus)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def conv():
    return Conv2d(np.ones((2, 3, 3, 3)), np.zeros(2))


@pytest.fixture
def net(rng):
    return dtd.Sequential([Conv2d(rng.normal(size=(2, 3, 3, 3)), -rng.random(2)), ReLU(), MaxPool2d(2),
                           Flatten(), Dense(rng.normal(size=(4, 8)), -rng.random(4))])


@pytest.fixture
def x(rng):
    return rng.random((2, 3, 6, 6))


# ----------------------------------------------------------------- x: rank, channels

def test_wrong_rank(conv, net, rng):
    with pytest.raises(ValueError, match=r"Conv2d: x must have 4 dimensions \(batch first\), got shape \(3, 6, 6\)"):
        conv.forward(rng.random((3, 6, 6)))
    with pytest.raises(ValueError, match=r"Dense: x must have 2 dimensions .* got shape \(2, 1, 4\)"):
        Dense(np.ones((2, 4))).forward(rng.random((2, 1, 4)))
    for layer in (SumPool2d(2), AvgPool2d(2), MaxPool2d(2), LpPool2d(2, 2)):
        with pytest.raises(ValueError, match=rf"{type(layer).__name__}: x must have 4 dimensions"):
            layer.forward(rng.random((1, 6, 6)))
    with pytest.raises(ValueError, match=r"LRN: x must have a channel axis \(N, C, \.\.\.\), got shape \(5,\)"):
        LRN(3).forward(rng.random(5))
    with pytest.raises(ValueError, match=r"ReLU: x must have a batch axis, got a scalar"):
        ReLU().forward(np.array(1.0))
    # through the network: the message names the layer that refused
    with pytest.raises(ValueError, match=r"Conv2d: x must have 4 dimensions"):
        net.explain(rng.random((3, 6, 6)), ZPlus())


def test_wrong_channel_count(conv, net, rng):
    with pytest.raises(ValueError, match=r"Conv2d: x has 2 channels/features on axis 1, "
                                         r"expected 3 \(shape \(1, 2, 6, 6\)\)"):
        conv.forward(rng.random((1, 2, 6, 6)))
    with pytest.raises(ValueError, match=r"Dense: x has 5 channels/features on axis 1, expected 4"):
        Dense(np.ones((2, 4))).forward(rng.random((3, 5)))
    with pytest.raises(ValueError, match=r"Conv2d: x has 1 channels/features on axis 1, expected 3"):
        net.explain(rng.random((2, 1, 6, 6)), composites.get("dtd"))
    # a Dense after Flatten sees the wrong number of features when the image is too large
    with pytest.raises(ValueError, match=r"Dense: x has 18 channels/features on axis 1, expected 8"):
        net.forward(rng.random((1, 3, 8, 8)))


# ----------------------------------------------------------------- x: values and dtype

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_x(net, x, bad):
    x = x.copy()
    x[1, 2, 3, 4] = bad
    with pytest.raises(ValueError, match=r"Sequential: x contains NaN or Inf"):
        net.explain(x, ZPlus())
    with pytest.raises(ValueError, match=r"Sequential: x contains NaN or Inf"):
        net.forward(x)
    with pytest.raises(ValueError, match=r"Conv2d: x contains NaN or Inf"):
        net.layers[0].forward(x)
    with pytest.raises(ValueError, match=r"Conv2d: x contains NaN or Inf"):
        net.layers[0].relevance(x, np.ones((2, 2, 4, 4)), ZPlus())
    with pytest.raises(ValueError, match=r"Sequential: x contains NaN or Inf"):
        dtd.gradient_x_input(net, x)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_an_overflow_inside_the_network_is_reported_not_returned(rng):
    """A network checks its input once and its output (or final relevance) once: an Inf made inside by an
    overflow of float32 reaches the output through the ReLU and the max pooling and is refused there;
    return_all=True checks every layer's input and names the layer that received it."""
    big = np.float32(1e38)                       # 27 products of 1e38 overflow float32 in the convolution
    net = dtd.Sequential([Conv2d(np.full((2, 3, 3, 3), big, np.float32), np.zeros(2, np.float32)), ReLU(),
                          MaxPool2d(2), Flatten(), Dense(np.ones((4, 8), np.float32))])
    x = np.ones((1, 3, 6, 6), np.float32)
    with pytest.raises(ValueError, match=r"Sequential: the output contains NaN or Inf .*return_all=True"):
        net.forward(x)
    with pytest.raises(ValueError, match=r"ReLU: x contains NaN or Inf"):
        net.forward(x, return_all=True)
    with pytest.raises(ValueError, match=r"explain: the input relevance contains NaN or Inf"):
        net.explain(x, ZPlus())
    names = [f"l{i}" for i in range(len(net.layers))]
    graph = dtd.Graph([(n, layer, prev) for n, layer, prev in zip(names, net.layers, ["x"] + names[:-1])], input="x")
    with pytest.raises(ValueError, match=r"explain: the input relevance contains NaN or Inf"):
        graph.explain(x, ZPlus())
    # the same network without the overflow passes
    assert np.isfinite(net.forward(x / big)).all()


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, np.complex128, object])
def test_non_floating_dtype(net, x, dtype):
    xi = (x * 10).astype(dtype)
    msg = (rf"Sequential: x has dtype {np.dtype(dtype)}; dtd computes in floating point"
           r" \(use x.astype\(np.float64\), or float32\)")
    with pytest.raises(TypeError, match=msg):
        net.explain(xi, ZPlus())
    with pytest.raises(TypeError, match=rf"Conv2d: x has dtype {np.dtype(dtype)}"):
        net.layers[0].forward(xi)


def test_not_an_array(net, x):
    with pytest.raises(TypeError, match=r"Sequential: x must be a numpy.ndarray, got list"):
        net.explain(x.tolist(), ZPlus())
    with pytest.raises(TypeError, match=r"Dense: x must be a numpy.ndarray, got list"):
        Dense(np.ones((1, 2))).forward([[1.0, 2.0]])


def test_empty_batch(net, conv):
    with pytest.raises(ValueError, match=r"Sequential: x is an empty batch \(shape \(0, 3, 6, 6\)\)"):
        net.explain(np.zeros((0, 3, 6, 6)), ZPlus())
    with pytest.raises(ValueError, match=r"Conv2d: x is an empty batch"):
        conv.forward(np.zeros((0, 3, 6, 6)))


# ----------------------------------------------------------------- relevance / gradient arrays

def test_relevance_and_grad_of_wrong_shape_or_nan(conv, x):
    with pytest.raises(ValueError, match=r"Conv2d: R has shape \(2, 2, 3, 3\), expected "
                                         r"the output shape \(2, 2, 4, 4\)"):
        conv.relevance(x, np.ones((2, 2, 3, 3)), ZPlus())
    with pytest.raises(ValueError, match=r"Conv2d: grad_y has shape \(2, 2, 3, 3\), expected the output shape"):
        conv.backward(x, np.ones((2, 2, 3, 3)))
    R = np.ones((2, 2, 4, 4))
    R[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"Conv2d: R contains NaN or Inf"):
        conv.relevance(x, R, ZPlus())
    with pytest.raises(TypeError, match=r"Conv2d: R must be a floating numpy.ndarray"):
        conv.relevance(x, np.ones((2, 2, 4, 4), dtype=int), ZPlus())
    with pytest.raises(ValueError, match=r"Conv2d: grad_y has shape"):
        conv.param_grads(x, np.ones((2, 2, 3, 3)))


# ----------------------------------------------------------------- targets

def test_target_out_of_range(net, x):
    with pytest.raises(ValueError, match=r"target out of range: the network has 4 outputs, got 4\.\.4"):
        net.explain(x, ZPlus(), target=4)
    with pytest.raises(ValueError, match=r"target out of range: the network has 4 outputs, got -1\.\.-1"):
        net.explain(x, ZPlus(), target=-1)
    with pytest.raises(ValueError, match=r"target out of range: the network has 4 outputs, got 0\.\.7"):
        net.explain(x, ZPlus(), target=np.array([0, 7]))
    with pytest.raises(ValueError, match=r"target out of range: the network has 4 outputs, got -2\.\.1"):
        net.explain(x, ZPlus(), target=np.array([-2, 1]))
    with pytest.raises(ValueError, match=r"target out of range"):
        net.gradient(x, target=4)
    with pytest.raises(ValueError, match=r"target out of range"):
        dtd.sensitivity(net, x, target=9)


def test_target_array_of_wrong_length_or_type(net, x):
    with pytest.raises(ValueError, match=r"target must be an int or have one entry per sample \(2\), got shape \(3,\)"):
        net.explain(x, ZPlus(), target=np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"one entry per sample \(2\), got shape \(1, 2\)"):
        net.explain(x, ZPlus(), target=np.array([[0, 1]]))
    with pytest.raises(TypeError, match=r"target must be an int or an int array, got dtype float64"):
        net.explain(x, ZPlus(), target=1.0)
    with pytest.raises(TypeError, match=r"target must be an int or an int array, got dtype bool"):
        net.explain(x, ZPlus(), target=np.array([True, False]))


# ----------------------------------------------------------------- rules that do not fit

def test_rule_not_applicable_to_layer(rng, conv, x):
    dense = Dense(np.ones((2, 4)))
    xd = rng.random((1, 4))
    with pytest.raises(TypeError, match=r"rule WinnerTakeAll does not apply to layer "
                                        r"Dense \(it applies to: MaxPool2d\)"):
        dense.relevance(xd, np.ones((1, 2)), WinnerTakeAll())
    with pytest.raises(TypeError, match=r"rule LRNTaylor does not apply to layer Conv2d \(it applies to: LRN\)"):
        conv.relevance(x, np.ones((2, 2, 4, 4)), LRNTaylor())
    with pytest.raises(TypeError, match=r"rule LRNIdentity does not apply to layer MaxPool2d"):
        MaxPool2d(2).relevance(x, np.ones((2, 3, 3, 3)), LRNIdentity())
    with pytest.raises(TypeError, match=r"rule Epsilon does not apply to layer MaxPool2d "
                                        r"\(it applies to: LinearLayer\)"):
        MaxPool2d(2).relevance(x, np.ones((2, 3, 3, 3)), Epsilon())
    with pytest.raises(TypeError, match=r"rule ZPlus does not apply to layer LpPool2d"):
        LpPool2d(2, 2).relevance(x, np.ones((2, 3, 3, 3)), ZPlus())
    with pytest.raises(TypeError, match=r"rule Proportional does not apply to layer Dense"):
        dense.relevance(xd, np.ones((1, 2)), Proportional())
    with pytest.raises(TypeError, match=r"rule ZPlus does not apply to layer LRN"):
        LRN(3).relevance(x, x, ZPlus())
    with pytest.raises(TypeError, match=r"rule PassThrough does not apply to layer Conv2d"):
        conv.relevance(x, np.ones((2, 2, 4, 4)), PassThrough())
    with pytest.raises(TypeError, match=r"rule WinnerTakeAll does not apply to layer ReLU"):
        ReLU().relevance(x, x, WinnerTakeAll())


def test_rule_list_entry_not_applicable(net, x):
    # a linear rule in the list entry of the MaxPool2d layer (index 2)
    with pytest.raises(TypeError, match=r"rule Gamma does not apply to layer MaxPool2d"):
        net.explain(x, [ZPlus(), None, Gamma(0.25), None, Epsilon()])
    with pytest.raises(TypeError, match=r"rule WinnerTakeAll does not apply to layer Dense"):
        net.explain(x, [None, None, None, None, WinnerTakeAll()])


def test_rule_list_of_wrong_length_or_content(net, x):
    with pytest.raises(ValueError, match=r"rules: got a list of 2 rules for 5 layers"):
        net.explain(x, [ZPlus(), ZPlus()])
    with pytest.raises(ValueError, match=r"rules: got a list of 6 rules for 5 layers"):
        net.explain(x, [None] * 6)
    with pytest.raises(TypeError, match=r"rules\[1\] is a str, not a Rule"):
        net.explain(x, [ZPlus(), "zplus", None, None, None])
    with pytest.raises(TypeError, match=r"rules must be a Rule, a list of rules, or a composite; got str"):
        net.explain(x, "zplus")
    with pytest.raises(TypeError, match=r"composite returned a int for layer 0, not a Rule"):
        net.explain(x, lambda i, layer: 0)


def test_unknown_composite():
    with pytest.raises(ValueError, match=r"unknown composite 'dtdx'; known: .*dtd.*epsilon-gamma-box"):
        composites.get("dtdx")
    with pytest.raises(ValueError, match=r"composite 'dtd' takes domain=None, low=None, high=None; got gamma"):
        composites.get("dtd", gamma=0.25)
    with pytest.raises(ValueError, match=r"DTD: domain must be 'R', 'R\+' or 'box', got 'Z'"):
        composites.get("dtd", domain="Z")
    with pytest.raises(ValueError, match=r"DTD: the box domain needs low and high"):
        composites.get("dtd", domain="box")
    with pytest.raises(ValueError, match=r"give both low and high, or neither"):
        composites.get("dtd", low=0.0)


# ----------------------------------------------------------------- rule parameters

@pytest.mark.parametrize("alpha, beta", [(2.0, 0.0), (1.0, 1.0), (3.0, 1.0), (0.5, -0.5), (0.0, -1.0)])
def test_alpha_beta_must_differ_by_one(alpha, beta):
    msg = rf"AlphaBeta: need alpha - beta == 1 and alpha, beta >= 0, got alpha={alpha}, beta={beta}"
    with pytest.raises(ValueError, match=msg):
        AlphaBeta(alpha, beta)


def test_negative_rule_parameters():
    with pytest.raises(ValueError, match=r"Epsilon: epsilon must be >= 0, got -0.1"):
        Epsilon(-0.1)
    with pytest.raises(ValueError, match=r"Gamma: gamma and epsilon must be >= 0, got -1.0, 0.0"):
        Gamma(-1.0)
    with pytest.raises(ValueError, match=r"LRNTaylor: epsilon must be >= 0, got -1e-09"):
        LRNTaylor(-1e-9)


def test_zbox_bounds_that_do_not_fit(rng):
    dense = Dense(rng.normal(size=(2, 4)))
    xd = rng.random((3, 4))
    R = np.ones((3, 2))
    with pytest.raises(ValueError, match=r"ZBox: bounds of shape \(3,\)/\(3,\) do not fit an input of shape \(4,\)"):
        dense.relevance(xd, R, ZBox(np.zeros(3), np.ones(3)))
    conv = Conv2d(rng.normal(size=(2, 3, 3, 3)))
    xc = rng.random((1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"ZBox: bounds of shape \(2, 5, 5\)/\(2, 5, 5\) do not "
                                         r"fit an input of shape \(3, 5, 5\)"):
        conv.relevance(xc, np.ones((1, 2, 3, 3)), ZBox(np.zeros((2, 5, 5)), np.ones((2, 5, 5))))
    with pytest.raises(ValueError, match=r"ZBox: low must be <= high everywhere"):
        ZBox(np.array([0.0, 2.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match=r"ZBox: low and high must be finite"):
        ZBox(-np.inf, 1.0)
    with pytest.raises(ValueError, match=r"ZBox: low and high must be finite"):
        ZBox(0.0, np.nan)
    # bounds shaped like one input (or broadcastable to it) are accepted
    dense.relevance(xd, R, ZBox(np.zeros(4), np.ones(4)))
    conv.relevance(xc, np.ones((1, 2, 3, 3)), ZBox(np.zeros((3, 1, 1)), np.ones((3, 1, 1))))


# ----------------------------------------------------------------- geometry

def test_kernel_larger_than_input(rng):
    x = rng.random((1, 2, 3, 4))
    with pytest.raises(ValueError, match=r"kernel 5 with padding 0 does not fit an input of size 3"):
        Conv2d(np.ones((1, 2, 5, 2))).forward(x)
    with pytest.raises(ValueError, match=r"kernel 6 with padding 1 does not fit an input of size 3"):
        Conv2d(np.ones((1, 2, 6, 2)), padding=1).forward(x)
    with pytest.raises(ValueError, match=r"kernel 5 with padding 0 does not fit an input of size 4"):
        Conv2d(np.ones((1, 2, 2, 5))).relevance(x, np.ones((1, 1, 2, 1)), ZPlus())
    for layer in (SumPool2d(4), AvgPool2d(4), MaxPool2d(4), LpPool2d(2, 4)):
        with pytest.raises(ValueError, match=r"kernel 4 with padding 0 does not fit an input of size 3"):
            layer.forward(x)
    net = dtd.Sequential([Conv2d(np.ones((1, 2, 3, 3))), ReLU(), MaxPool2d(3)])
    with pytest.raises(ValueError, match=r"kernel 3 with padding 0 does not fit an input of size 1"):
        net.explain(x, ZPlus())


def test_bad_layer_construction():
    with pytest.raises(ValueError, match=r"Conv2d: weight must have 4 dimensions, got shape \(2, 3, 3\)"):
        Conv2d(np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match=r"Conv2d: bias has 3 entries, weight has 2 output channels"):
        Conv2d(np.ones((2, 1, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"Conv2d: stride must be >= 1 and padding >= 0"):
        Conv2d(np.ones((2, 1, 3, 3)), stride=0)
    with pytest.raises(ValueError, match=r"Dense: bias has 3 entries, weight has 2 outputs"):
        Dense(np.ones((2, 4)), np.zeros(3))
    with pytest.raises(ValueError, match=r"Dense: weight contains NaN or Inf"):
        Dense(np.array([[np.nan]]))
    with pytest.raises(TypeError, match=r"Dense: weight must be numeric, got dtype <U1"):
        Dense(np.array([["a"]]))
    with pytest.raises(TypeError, match=r"MaxPool2d: kernel_size must be an int or a pair of ints, got 'a'"):
        MaxPool2d("a")
    with pytest.raises(ValueError, match=r"SumPool2d: kernel_size and stride must be >= 1 and padding >= 0"):
        SumPool2d(0)
    # a max-pooling window of padding alone would output -inf (onnxruntime refuses it as well)
    with pytest.raises(ValueError, match=r"MaxPool2d: padding must be smaller than kernel_size, "
                                         r"got padding \(2, 2\) and kernel_size \(2, 2\)"):
        MaxPool2d(2, padding=2)
    with pytest.raises(ValueError, match=r"MaxPool2d: padding must be smaller than kernel_size"):
        MaxPool2d((3, 1), padding=(1, 1))
    MaxPool2d(3, padding=2)          # every window still holds an input
    with pytest.raises(ValueError, match=r"LpPool2d: p must be >= 1, got 0.5"):
        LpPool2d(0.5, 2)
    with pytest.raises(ValueError, match=r"LRN: size must be a positive int, got 0"):
        LRN(0)
    with pytest.raises(ValueError, match=r"LRN: window must be 'onnx' or 'pytorch', got 'caffe'"):
        LRN(3, window="caffe")
    with pytest.raises(ValueError, match=r"LRN: need k > 0, alpha >= 0, beta >= 0"):
        LRN(3, k=0.0)
    with pytest.raises(TypeError, match=r"Sequential: entry 1 is a str, not a dtd layer"):
        dtd.Sequential([ReLU(), "relu"])
    with pytest.raises(ValueError, match=r"Sequential: needs at least one layer"):
        dtd.Sequential([])
