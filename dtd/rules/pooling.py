"""Rules for max pooling and p-norm pooling."""
from .base import Rule, check_choice, safe_divide

__all__ = ["WinnerTakeAll", "Proportional"]


class WinnerTakeAll(Rule):
    r"""Max pooling: all of ``R_j`` goes to the maximum of window j; ties share it equally.

    .. math:: R_i = \sum_j \frac{1[x_i = \max_{window(j)} x]}{\#\{\text{maxima of window } j\}} R_j

    The default for :class:`dtd.layers.MaxPool2d`, and the LRP Toolbox's max
    pooling (which also shares ties equally).  Zennit and Captum follow
    PyTorch's max-pooling gradient, which sends a tie wholly to the first
    maximum: ``ties="first"``.

    Parameters
    ----------
    ties : {"split", "first"}
        Share a tie equally among the maxima (the default), or send it wholly
        to the first maximum of the window in row-major order, as PyTorch's
        max pooling gradient does (so Zennit, and Captum up to its stabiliser).

    >>> from dtd.layers import MaxPool2d
    >>> x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    >>> MaxPool2d(2).relevance(x, np.array([[[[4.0]]]]), WinnerTakeAll())[0, 0].tolist()
    [[0.0, 2.0], [2.0, 0.0]]
    >>> MaxPool2d(2).relevance(x, np.array([[[[4.0]]]]), WinnerTakeAll(ties="first"))[0, 0].tolist()
    [[0.0, 4.0], [0.0, 0.0]]
    """

    reference = {
        "name": "winner-take-all",
        "formula": "R_i = sum_j 1[x_i = max of window j] / #{maxima of window j} R_j",
        "bias": "- (no bias)",
        "domain": "any x",
        "closed_form": "the max-pooling gradient with ties shared (ties='first': to the first maximum)",
        "conservation": "always (every window has a maximum)",
        "peers": {"Zennit": "no rule: PyTorch's gradient (ties='first')", "iNNvestigate": "the gradient (ties='first')",
                  "Captum": "EpsilonRule on MaxPool2d (ties='first')", "LRP Toolbox": "MaxPool (ties shared)"},
        "tests": ["tests/test_layers.py::test_maxpool_tie_split_by_hand",
                  "tests/test_pooling_fast.py::test_winner_take_all_tile_path_equals_general_and_loop",
                  "tests/test_crosscheck_zennit.py::test_max_pool_ties_go_to_the_first_maximum"],
    }

    def __init__(self, ties="split"):
        self.ties = check_choice(ties, ("split", "first"), "WinnerTakeAll", "ties")

    def layer_types(self):
        return ("MaxPool2d",)

    @staticmethod
    def first_winner(layer, x):
        """1 at the first maximum (row-major) of each window, else 0; shape (N, C, H_out, W_out, kH, kW)."""
        return layer.first_winner(x)

    def relevance(self, layer, x, R, out=None):
        """Relevance of the inputs of the max-pooling ``layer``; ``out`` is ``layer.forward(x)`` if known.

        ``out`` spares recomputing the window maxima; the result is the same with or without it.
        """
        return layer.spread_to_winners(x, R, out=out, ties=self.ties)


class Proportional(Rule):
    r"""Pooling in proportion to the inputs of each window (the sum-pooling z-rule, no bias).

    .. math:: R_i = \sum_j \frac{x_i}{\sum_{i' \in window(j)} x_{i'}} R_j

    For p-norm pooling this is the relevance model of seed 001: the ratio
    ``||x||_p / ||x||_1`` is held constant, which leaves a sum-pooling layer.
    It is the rule of :class:`dtd.layers.LpPool2d` and the DTD choice for max
    pooling; on sum and average pooling it equals LRP-0 (and z+ for x >= 0).
    A window whose inputs sum to zero sends nothing (0/0 := 0).

    >>> from dtd.layers import MaxPool2d
    >>> x = np.array([[[[1.0, 3.0], [0.0, 0.0]]]])
    >>> MaxPool2d(2).relevance(x, np.array([[[[4.0]]]]), Proportional())[0, 0].tolist()
    [[1.0, 3.0], [0.0, 0.0]]
    """

    reference = {
        "name": "proportional / p-norm pooling",
        "formula": "R_i = sum_j x_i / sum_{i' in window j} x_i' R_j",
        "bias": "- (no bias)",
        "domain": "x >= 0 (activations after a ReLU)",
        "root": "x~ = 0 (sum pooling: z+ with weights 1; p-norm: ||x||_p / ||x||_1 held constant)",
        "direction": "v = x",
        "closed_form": "the window sums: R / sum over the window, spread back times x",
        "conservation": "every window with a non-zero sum",
        "peers": {"Zennit": "Norm() (on AvgPool2d)", "iNNvestigate": "average pooling by the z-rule",
                  "Captum": "EpsilonRule on AvgPool2d", "LRP Toolbox": "SumPool with 'simple'"},
        "tests": ["tests/test_pooling_fast.py::test_proportional_tile_path_equals_general_and_loop",
                  "tests/test_pooling_fast.py::test_proportional_conserves_for_positive_inputs"],
    }

    def layer_types(self):
        return ("MaxPool2d", "LpPool2d", "SumPool2d", "AvgPool2d")

    def relevance(self, layer, x, R, out=None):
        """Relevance of the inputs of the pooling ``layer``, in the dtype of x.

        ``out`` (``layer.forward(x)``) is accepted for a uniform call and not
        used: the rule needs the window sums, which are not the output of a max
        or p-norm pooling.
        """
        return layer._times_spread(x, safe_divide(R, layer._window_sums(x)))
