"""The layer protocol.

Every layer is a small object with pure methods (nothing is kept between calls):

    layer.forward(x)               -> y
    layer.backward(x, grad_y)      -> grad_x      (the gradient)
    layer.relevance(x, R_y, rule)  -> R_x         (relevance-backward)

``LinearLayer`` is the base of the layers that compute ``z = W x + b`` (Dense,
Conv2d, SumPool2d, AvgPool2d).  They expose the operator itself,
``linear(x, weight, bias)`` and its transpose ``linear_backward(g, weight,
x_shape)``, so that one generic routine can run every linear rule with modified
weights (see :mod:`dtd.rules.linear`).
"""
import functools
import inspect

import numpy as np

from .._validation import check_input, check_relevance
from ..frozen import cached

__all__ = ["Layer", "LinearLayer"]


@functools.lru_cache(maxsize=None)
def _accepts(function, name):
    """Whether ``function`` (a method of a class, looked up once) has a parameter ``name``."""
    return name in inspect.signature(function).parameters


class Layer:
    """Base class: input checks and rule dispatch.

    Subclasses implement ``_forward``, ``_backward`` and ``default_rule``; the
    public methods check their arguments first.
    """

    #: required rank of the input (batch axis included); None = any
    input_ndim = None
    #: constructor arguments saved as JSON by dtd.save (arrays are saved separately)
    config_keys = ()
    #: constructor arguments that are arrays
    array_keys = ()

    def _check(self, x, finite=True):
        """``x`` if it fits this layer (type, rank, channels; with ``finite``, no NaN or Inf: one pass over x)."""
        return check_input(x, self, ndim=self.input_ndim, channels=self._channels(), finite=finite)

    def _channels(self):
        return None

    def forward(self, x):
        """Output of the layer for the batch ``x`` (see the class docstring for shapes)."""
        return self._forward(self._check(x))

    def _forward_inplace(self, x):
        """``_forward(x)``, overwriting ``x`` if that saves memory (a network's forward pass calls this
        on arrays it made itself and will not read again).  Default: the plain forward."""
        return self._forward(x)

    def backward(self, x, grad_y):
        """Gradient of ``sum(grad_y * forward(x))`` with respect to ``x``."""
        self._check(x)
        check_relevance(grad_y, self._output_shape(x), self, name="grad_y")
        return self._backward(x, grad_y)

    def relevance(self, x, R, rule=None, out=None):
        """Redistribute the output relevance ``R`` onto the input ``x``.

        Parameters
        ----------
        x : ndarray
            Input of the layer (as recorded in the forward pass).
        R : ndarray
            Relevance of the outputs, shaped like ``forward(x)``.
        rule : Rule, optional
            Defaults to ``self.default_rule()``.
        out : ndarray, optional
            ``forward(x)``, if the caller recorded it (a network's explain
            does): linear rules whose denominator is the layer's own output
            (LRP-0, epsilon) then skip recomputing it.  The caller vouches
            that it is the output for this ``x``.

        Raises
        ------
        TypeError
            The rule does not apply to this kind of layer.
        """
        self._check(x)
        check_relevance(R, self._output_shape(x), self)
        if rule is None:
            rule = self.default_rule()
        self.check_rule(rule)
        if out is not None:
            check_relevance(out, R.shape, self, name="out")
        return self._relevance(x, R, rule, out)

    def check_rule(self, rule):
        """Raise TypeError if ``rule`` does not apply to this layer."""
        if not rule.applies_to(self):
            raise TypeError(
                f"rule {type(rule).__name__} does not apply to layer {type(self).__name__}"
                f" (it applies to: {', '.join(getattr(c, '__name__', c) for c in rule.layer_types())})"
            )

    def _relevance(self, x, R, rule, out=None, prepared=None):
        """:meth:`relevance` without the checks (a network checks once): ``out`` and ``prepared``
        reach the rule if its ``relevance`` takes them."""
        kwargs = {}
        if out is not None and _accepts(type(rule).relevance, "out"):
            kwargs["out"] = out
        if prepared is not None:
            kwargs["prepared"] = prepared
        return rule.relevance(self, x, R, **kwargs)

    def _output_shape(self, x):
        return self.output_shape(x.shape)

    def output_shape(self, shape):
        """Shape of ``forward(x)`` for an input of shape ``shape``."""
        return tuple(shape)

    def default_rule(self):
        """The rule used when none is given."""
        from ..rules import PassThrough
        return PassThrough()

    def __repr__(self):
        return f"{type(self).__name__}({self._repr_args()})"

    def _repr_args(self):
        return ""


class LinearLayer(Layer):
    """A layer ``z = W x + b``, exposing its operator for the linear rules."""

    def params(self, dtype):
        """``(weight, bias)`` cast to ``dtype``; ``bias`` may be None."""
        raise NotImplementedError  # abstract

    def linear(self, x, weight, bias):
        """The layer's operator with the given parameters (no input checks).

        Returns a new array: the rules overwrite it.
        """
        raise NotImplementedError  # abstract

    def linear_backward(self, g, weight, x_shape):
        """Transpose of :meth:`linear`: ``d/dx sum(g * linear(x, weight, 0))``."""
        raise NotImplementedError  # abstract

    #: True if weights may be stacked along their first axis to compute several maps in one product
    #: (their outputs then stack along axis 1): Dense and Conv2d
    stackable = False

    def linear_stack(self, x, maps):
        """``[linear(x, w, b) for (w, b) in maps]``, in one product on a :attr:`stackable` layer.

        The outputs of a stacked product are views into one array.
        """
        if not self.stackable:
            return [self.linear(x, w, b) for w, b in maps]
        sizes = [w.shape[0] for w, _ in maps]
        ws, bs = tuple(w for w, _ in maps), tuple(b for _, b in maps)
        w_all = cached(ws, ("vstack",), lambda: np.concatenate(ws, axis=0))   # kept if the weights are frozen
        b_all = None
        if any(b is not None for b in bs):
            given = tuple(b for b in bs if b is not None)
            b_all = cached(given, ("bias-stack", tuple(sizes), tuple(b is None for b in bs)), lambda: np.concatenate(
                [np.zeros(n, w_all.dtype) if b is None else b for b, n in zip(bs, sizes)]))
        z = self.linear(x, w_all, b_all)
        return np.split(z, np.cumsum(sizes)[:-1], axis=1)

    def output_blocks(self, weight, bias, modified, active=None):
        """Blocks of output units ``(rows, weight_rows, bias_rows)`` that a rule may run one at a time.

        ``rows`` slices axis 1 of the output (None = all of it), or is an array of output indices (then
        ``weight_rows`` is None and the rule gathers them).  ``modified`` says the rule will make
        modified copies of the weights; a layer whose weights are large may then split them, so that
        each block's copies stay in cache, and restrict them to the ``active`` outputs (indices) when
        the rule passes them.  Default: one block of everything.
        """
        return [(None, weight, bias)]

    def _forward(self, x):
        w, b = self.params(x.dtype)
        return self.linear(x, w, b)

    def _forward_then(self, x, post):
        """``post(forward(x))`` for an elementwise in-place ``post`` (the ReLU after this layer, in a network's
        forward pass).  Default: on the whole output; a convolution applies it to each piece of the output
        as soon as its product is done, while the piece is still in cache."""
        w, b = self.params(x.dtype)
        if _accepts(type(self).linear, "post"):
            return self.linear(x, w, b, post=post)
        y = self.linear(x, w, b)
        if np.may_share_memory(y, x):                  # never overwrite the input (or what it views)
            y = y.copy()
        post(y)
        return y

    def _backward(self, x, grad_y):
        w, _ = self.params(x.dtype)
        return self.linear_backward(grad_y, w, x.shape)

    def default_rule(self):
        from ..rules import Epsilon
        return Epsilon(0.0)
