"""dtd agrees with Captum 0.9.0's LRP after the mappings of docs/backends.md (dtd.conformance.peers.captum).

For seeded random networks (conv/pool/dense with ReLU, with and without
biases, inputs >= 0 and signed): ``EpsilonRule``, ``GammaRule`` and
``Alpha1_Beta0_Rule`` (the latter on inputs >= 0: Captum's result on signed
inputs is not alpha-beta, see the xfail below), with the relative difference
``max|a - b| / max|b|`` at most 1e-6 as the issue asks (1e-9 on the nets without
max pooling).  Measured: ~1e-15 without max pooling; up to ~2e-8 with it,
because Captum's max pooling runs its ``EpsilonRule`` (stabiliser 1e-9),
which scales the winner's relevance by ``x_max / (x_max + 1e-9)``.

Skipped when torch or captum is missing.
"""
import numpy as np
import pytest

from dtd import Sequential
from dtd.conformance.peers import captum as captum_map
from dtd.layers import Dense
from dtd.rules import AlphaBeta, Gamma

from _peers import import_captum, random_input, random_net, rel_diff, to_torch

torch, captum_attr = import_captum()
from captum.attr._utils.lrp_rules import Alpha1_Beta0_Rule, EpsilonRule, GammaRule  # noqa: E402

TOL = 1e-6               # the bound; nets with max pooling differ by Captum's max-pool stabiliser (~1e-8)
TOL_NO_MAXPOOL = 1e-9    # without max pooling only rounding differs (~1e-15 measured)

RULES = {
    "EpsilonRule": (lambda: EpsilonRule(epsilon=0.01), dict(epsilon=0.01)),
    "EpsilonRule-default": (lambda: EpsilonRule(), {}),
    "GammaRule": (lambda: GammaRule(gamma=0.25), dict(gamma=0.25)),
    "GammaRule-nobias": (lambda: GammaRule(gamma=0.5, set_bias_to_zero=True), dict(gamma=0.5, set_bias_to_zero=True)),
    "Alpha1_Beta0_Rule": (lambda: Alpha1_Beta0_Rule(), {}),
    "Alpha1_Beta0_Rule-nobias": (lambda: Alpha1_Beta0_Rule(set_bias_to_zero=True), dict(set_bias_to_zero=True)),
}
NETS = [("conv", True), ("conv", False), ("dense", True), ("dense", False)]


def captum_relevance(net, x, target, make_rule):
    """Captum's LRP with ``make_rule()`` on every Linear/Conv2d (its defaults elsewhere)."""
    tnet = to_torch(net)
    for m in tnet.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
            m.rule = make_rule()
    with torch.no_grad():   # the same network (float64 weights copied exactly)
        np.testing.assert_allclose(tnet(torch.from_numpy(x)).numpy(), net.forward(x), rtol=1e-12, atol=1e-12)
    xt = torch.from_numpy(x).requires_grad_(True)
    R = captum_attr.LRP(tnet).attribute(xt, target=torch.from_numpy(target))
    return R.detach().numpy()


# Alpha1_Beta0_Rule on inputs >= 0 only: on signed inputs see test_alpha1_beta0_signed_input
PARAMS = [pytest.param(name, kind, bias, signed, id=f"{name}-{kind}-{'bias' if bias else 'nobias'}-"
                                                    f"{'signed' if signed else 'x>=0'}")
          for name in RULES for kind, bias in NETS for signed in (False, True)
          if not (signed and name.startswith("Alpha1_Beta0_Rule"))]


@pytest.mark.parametrize("name, kind, bias, signed", PARAMS)
def test_rule_agrees(name, kind, bias, signed):
    rule_name = name.split("-")[0]
    seed = sum(map(ord, f"{kind}{bias}{signed}{name}"))
    net, shape = random_net(kind, bias, seed)
    x = random_input(shape, signed, seed)
    target = net.forward(x).argmax(axis=1)
    make, args = RULES[name]
    ref = captum_relevance(net, x, target, make)
    ours = net.explain(x, captum_map(rule_name, **args), target=target)
    assert rel_diff(ours, ref) <= (TOL if kind == "conv" else TOL_NO_MAXPOOL)


def test_gamma_bias_is_not_boosted():
    """Captum's GammaRule keeps b (not dtd's and Zennit's b + gamma b+): dtd's default differs, bias='plain' agrees."""
    net = Sequential([Dense([[1.0, -1.0]], [1.0])])
    x = np.array([[2.0, 1.0]])
    ref = captum_relevance(net, x, np.array([0]), lambda: GammaRule(gamma=1.0))
    # w + w+ = [2, -1]; z = 4 - 1 + b = 4; f(x) = 2: R = [4, -1] / 4 * 2
    np.testing.assert_allclose(ref, [[2.0, -0.5]], rtol=1e-8)
    np.testing.assert_allclose(net.explain(x, captum_map("GammaRule", gamma=1.0)), ref, rtol=1e-8)
    # dtd's default: b + gamma b+ = 2, z = 5: R = [4, -1] / 5 * 2
    np.testing.assert_allclose(net.explain(x, Gamma(1.0)), [[1.6, -0.4]], rtol=1e-14)


@pytest.mark.xfail(strict=True, reason="Captum bug: Alpha1_Beta0_Rule on a negative input x_i sends x_i w_ij^+ "
                                      "(negative relevance), not max(0, x_i w_ij); no dtd setting gives that")
def test_alpha1_beta0_signed_input():
    """Smallest case: one Dense layer, w = [1, 1], b = 0, x = [2, -1], f(x) = 1.

    alpha-beta (Bach et al. 2015) with alpha = 1, beta = 0 gives z+ = [2, 0] / 2 = [1, 0] (dtd, Zennit);
    Captum gives [2, -1] / 1 = [2, -1]: negative relevance, against its own docstring ("only positive
    relevance is propagated").
    """
    net = Sequential([Dense([[1.0, 1.0]], [0.0])])
    x = np.array([[2.0, -1.0]])
    ref = captum_relevance(net, x, np.array([0]), Alpha1_Beta0_Rule)
    np.testing.assert_allclose(ref, [[2.0, -1.0]], rtol=1e-8)     # what Captum does (passes)
    np.testing.assert_allclose(net.explain(x, AlphaBeta(1, 0)), ref, rtol=1e-6)   # fails: [1, 0]
