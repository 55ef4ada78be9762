"""A dense layer whose rule modifies its weights, run in many blocks of output rows (Dense.output_blocks).

Each block's modified weights are written into per-thread scratch buffers that the next block overwrites
(one buffer per modifier of the rule: z^B and alpha-beta use two in the same block).  The closed form
(``rule.explicit``) is the reference, as in test_rules_closed_form.py (float64, rtol 1e-10).
"""
import numpy as np
import pytest

from dtd.layers import Dense
from dtd.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus
from dtd.rules.base import SignedScale, negative, ones, positive, square


@pytest.mark.parametrize("modifier", [positive, negative, square, ones, SignedScale(1.0, 0.25),
                                      SignedScale(1.25, -0.25), SignedScale(0.5, 2.0)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_modifiers_write_the_same_numbers_into_out(modifier, dtype):
    w = np.random.default_rng(0).normal(size=(4, 6)).astype(dtype)
    out = np.full_like(w, np.nan)
    got = modifier(w, out=out)
    assert got is out and got.dtype == dtype
    np.testing.assert_array_equal(got, modifier(w))


RULES = {
    "epsilon": Epsilon(0.1), "gamma": Gamma(0.25), "gamma-generalized": Gamma(0.25, generalized=True),
    "alpha2-beta1": AlphaBeta(2, 1), "zplus": ZPlus(), "wsquare": WSquare(), "zbox": ZBox(-1.0, 1.0),
    "flat": Flat(),
}


@pytest.mark.parametrize("name", list(RULES))
def test_many_blocks_equal_the_closed_form(name):
    rng = np.random.default_rng(5)
    layer = Dense(rng.normal(size=(24, 7)), rng.normal(size=24))
    layer.block_bytes = 16                             # one output row a block: 24 blocks
    assert len(layer.output_blocks(layer.weight, layer.bias, True)) == 24
    rule = RULES[name]
    x = rng.normal(size=(4, 7))
    x[1] = np.abs(x[1])
    R = rng.normal(size=(4, 24))
    np.testing.assert_allclose(layer.relevance(x, R, rule), rule.explicit(layer.weight, layer.bias, x, R),
                               rtol=1e-10, atol=1e-12)


def test_many_blocks_keep_float32():
    rng = np.random.default_rng(6)
    layer = Dense(rng.normal(size=(40, 9)).astype(np.float32))
    layer.block_bytes = 36
    x = np.abs(rng.normal(size=(2, 9))).astype(np.float32)
    R = layer.forward(x)
    out = layer.relevance(x, R, ZPlus())
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ZPlus().explicit(layer.weight.astype(np.float64), None, x.astype(np.float64),
                                                     R.astype(np.float64)), rtol=1e-4, atol=1e-6)


def test_a_modifier_of_ones_own_without_out_runs_in_blocks():
    """A rule written with its own modifier (a plain function of the weights, no ``out=``) gets fresh arrays
    in each block, and the same numbers as the built-in one."""
    from dtd.rules.base import Group, Term, sign_parts

    class MyZPlus(ZPlus):
        def groups(self, x, weight, bias):
            xp, _ = sign_parts(x)
            return [Group([Term(xp, lambda w: np.where(w > 0, w, 0.0))])]

    rng = np.random.default_rng(9)
    layer = Dense(rng.normal(size=(12, 5)))
    layer.block_bytes = 40                             # one row of 5 float64 a block
    x = np.abs(rng.normal(size=(3, 5)))
    R = rng.normal(size=(3, 12))
    np.testing.assert_allclose(layer.relevance(x, R, MyZPlus()), ZPlus().explicit(layer.weight, None, x, R),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("zero", ["some", "all-but-one", "all", "none"])
@pytest.mark.parametrize("name", list(RULES))
def test_outputs_without_relevance_are_left_out_of_the_blocks(name, zero):
    """Outputs whose relevance is zero for every sample send none: the blocks are remade over the others
    (weight rows gathered per block).  Same numbers as the closed form over all outputs, whatever the
    pattern, including outputs whose denominator is zero."""
    rng = np.random.default_rng(12)
    layer = Dense(rng.normal(size=(30, 7)), rng.normal(size=30))
    layer.block_bytes = 3 * 7 * 8                      # three rows a block
    rule = RULES[name]
    x = rng.normal(size=(3, 7))
    x[0] = np.abs(x[0])
    R = rng.normal(size=(3, 30))
    keep = {"some": rng.uniform(size=30) < 0.4, "all-but-one": np.arange(30) == 17,
            "all": np.zeros(30, bool), "none": np.ones(30, bool)}[zero]
    R[:, ~keep] = 0
    R[1, 3] = 0.0                                      # a zero for one sample only does not drop the output
    got = layer.relevance(x, R, rule)
    np.testing.assert_allclose(got, rule.explicit(layer.weight, layer.bias, x, R), rtol=1e-10, atol=1e-12)
    if zero == "all":
        assert (got == 0).all()
    blocks = layer.output_blocks(layer.weight, layer.bias, True, active=np.flatnonzero(keep))
    assert sum(len(r) for r, _, _ in blocks) == keep.sum()
    assert all(w is None for _, w, _ in blocks)
