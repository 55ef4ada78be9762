"""dtd.parallel, and the rules that use it: a dense layer cut into many blocks of outputs runs them on threads.

The closed form (``rule.explicit``) is the reference, as in test_rules_closed_form.py (float64, rtol 1e-10);
the threaded and the one-thread results add the same block sums in another order (1e-13 relative).
"""
import threading

import numpy as np
import pytest

import dtd.parallel as parallel
from dtd.layers import Dense
from dtd.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus
from dtd.rules.base import PARALLEL_BLOCKS, SignedScale, negative, ones, positive, square


def test_map_blocks_cuts_in_order_and_runs_the_parts_on_threads():
    seen = []

    def part(items):
        seen.append(threading.get_ident())
        return list(items)

    assert parallel.map_blocks(part, list(range(7)), workers=3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert len(set(seen)) >= 2                         # the first part in the caller, the others on the pool
    assert parallel.map_blocks(part, [1, 2], workers=5) == [[1], [2]]       # never more parts than items
    seen.clear()
    assert parallel.map_blocks(part, list(range(4)), workers=1) == [[0, 1, 2, 3]]
    assert seen == [threading.get_ident()]             # one part: the caller's thread, no pool


def test_map_blocks_passes_on_an_error_of_any_part():
    def part(items):
        if 5 in items:
            raise ValueError("part with 5")
        return items

    with pytest.raises(ValueError, match="part with 5"):
        parallel.map_blocks(part, list(range(6)), workers=2)


def test_threads_follow_the_blas_limit():
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="blas"):
        assert parallel.threads() == 1
    with threadpool_limits(2, user_api="blas"):
        assert parallel.threads() == min(2, __import__("os").cpu_count())


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


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("name", list(RULES))
def test_threaded_blocks_equal_the_closed_form(monkeypatch, name, workers):
    rng = np.random.default_rng(5)
    layer = Dense(rng.normal(size=(3 * PARALLEL_BLOCKS, 7)), rng.normal(size=3 * PARALLEL_BLOCKS))
    layer.block_bytes = 16                             # one output row a block: 24 blocks
    assert len(layer.output_blocks(layer.weight, layer.bias, True)) >= PARALLEL_BLOCKS
    monkeypatch.setattr(parallel, "threads", lambda: workers)
    rule = RULES[name]
    x = rng.normal(size=(4, 7))
    x[1] = np.abs(x[1])
    R = rng.normal(size=(4, layer.weight.shape[0]))
    got = layer.relevance(x, R, rule)
    ref = rule.explicit(layer.weight, layer.bias, x, R)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    monkeypatch.setattr(parallel, "threads", lambda: 1)
    np.testing.assert_allclose(got, layer.relevance(x, R, rule), rtol=1e-13, atol=1e-15)


def test_threaded_blocks_keep_float32():
    rng = np.random.default_rng(6)
    layer = Dense(rng.normal(size=(40, 9)).astype(np.float32))
    layer.block_bytes = 36
    x = np.abs(rng.normal(size=(2, 9))).astype(np.float32)
    R = layer.forward(x)
    out = layer.relevance(x, R, ZPlus())
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ZPlus().explicit(layer.weight.astype(np.float64), None, x.astype(np.float64),
                                                     R.astype(np.float64)), rtol=1e-4, atol=1e-6)
