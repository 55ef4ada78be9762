"""What a rule is, and the one generic routine that runs every linear rule.

A linear rule (LRP-0, epsilon, gamma, alpha-beta, z+, w^2, z^B, flat) is *data*:
a list of groups, each a list of terms ``(input modifier, weight modifier,
sign)`` plus the bias that enters the group's denominator, and a stabiliser.
:meth:`LinearRule.relevance` runs them with the layer's own operator
(seeds 002 and 004, "implementing LRP with forward and backward"):

1. ``z = sum_t sign_t * forward(input_t(x), modifier_t(W)) + bias``  (+ stabiliser)
2. ``s = R / z``                 (0 where z == 0 and there is no stabiliser)
3. ``c_t = backward(s, modifier_t(W))`` (the gradient of ``sum(z * s)``, s held constant)
4. ``R_x = sum_t sign_t * input_t(x) * c_t``, summed over groups with their coefficient

A weight modifier is an elementwise function of the weights (``positive``,
``w + gamma w^+``, ``w^2``, ...), so a large dense layer can run the four steps
one block of output neurons at a time (:meth:`LinearLayer.output_blocks`).

Each rule also writes its closed form ``R_i = sum_j q_ij / (sum_i' q_i'j + bias_j) R_j``
over an explicit weight matrix (:meth:`LinearRule.explicit`): the slow, plain
reference that the tests hold the fast path to.
"""
import numpy as np

from ..frozen import cached
from ..workspace import scratch

__all__ = ["Rule", "PassThrough", "GradientPass", "LinearRule", "Term", "Group", "safe_divide", "stabilize", "select",
           "check_choice", "input_share", "is_layer_type"]


def is_layer_type(cls, types):
    """Whether the class ``cls`` is one of ``types``: classes, or names of classes (matched along its MRO).

    Rules name the layers they apply to by class name, so that ``dtd.rules`` never imports
    ``dtd.layers`` (the layers import the rules: a layer names its default rule).

    >>> class LinearLayer: pass
    >>> class Dense(LinearLayer): pass
    >>> is_layer_type(Dense, ("LinearLayer",)), is_layer_type(Dense, ("MaxPool2d",)), is_layer_type(Dense, (Dense,))
    (True, False, True)
    """
    names = {t for t in types if isinstance(t, str)}
    classes = tuple(t for t in types if isinstance(t, type))
    return issubclass(cls, classes) or any(base.__name__ in names for base in cls.__mro__)


class Rule:
    """Base class of all rules."""

    def layer_types(self):
        """The layer classes this rule applies to: class names (or classes); subclasses match too."""
        return ()

    def applies_to(self, layer):
        return is_layer_type(type(layer), self.layer_types())

    def relevance(self, layer, x, R):
        """Input relevance of ``layer`` for input ``x`` and output relevance ``R``."""
        raise NotImplementedError  # abstract

    def for_signed_output(self):
        """The variant of this rule that is valid on a layer whose output is not ReLU-gated (see
        :mod:`dtd.gating`): ``self`` unless the rule's derivation needs ``z_j > 0`` where ``R_j != 0``
        (plain LRP-gamma gives the generalised gamma rule)."""
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and repr(self) == repr(other)

    def __hash__(self):
        return hash(repr(self))


class PassThrough(Rule):
    """Relevance passes unchanged: ``R_x = R_y`` reshaped to x (ReLU, Flatten, Dropout).

    Also applies to :class:`~dtd.layers.Affine`, the per-channel map ``y = s x + t`` that remains of
    a batch norm that cannot be folded into a linear layer (pre-activation BN-ReLU-Conv, as in
    DenseNet): each output has exactly one input, so passing ``R_x = R_y`` is the only
    redistribution that is conservative whatever the signs of ``s``, ``x`` and ``t``.  The
    named composites give it to every Affine layer (LRP-0, the Affine's default, lets the shift
    absorb ``t / (s x + t)`` of the relevance, or all of it where ``s x + t`` is near zero).
    Zennit's composites do the same (its ``Pass`` rule on every BatchNorm it did not merge; see
    ``docs/backends.md``); iNNvestigate's default BN rule does not conserve (``docs/graphs.md``).
    """

    reference = {
        "name": "pass-through",
        "formula": "R_x = R_y (reshaped to x)",
        "bias": "- (no bias; an Affine's shift t absorbs nothing)",
        "domain": "any x; elementwise layers and one-input-per-output maps",
        "closed_form": "the identity on relevance",
        "conservation": "always: sum_i R_i = sum_j R_j",
        "layers": "ReLU, Flatten, every layer with passes_relevance (activations, Dropout), Affine",
        "peers": {"Zennit": "Pass (activations; unmerged BatchNorm)", "iNNvestigate": "activations passed through",
                  "Captum": "ReLU passes (default)", "LRP Toolbox": "Rect.lrp (R unchanged)"},
        "tests": ["tests/test_activations.py::test_relevance_passes_unchanged_and_float32_kept",
                  "tests/test_activations.py::test_explanation_equals_zennit_pass_rule"],
    }

    def layer_types(self):
        return ("ReLU", "Flatten")

    def applies_to(self, layer):
        # any layer that declares itself transparent to relevance (ReLU, Flatten, Tanh, Dropout, ...), and the
        # per-channel affine map (an unfolded batch norm: one input per output, so passing is conservative)
        return getattr(layer, "passes_relevance", False) or is_layer_type(type(layer), ("Affine",))

    def relevance(self, layer, x, R):
        return R.reshape(x.shape)


class GradientPass(Rule):
    r"""Relevance times the layer's local gradient: :math:`R_x = R_y \odot \partial y / \partial x` on a layer
    that passes relevance (ReLU, Flatten, other elementwise activations).

    For a ReLU, :math:`R_{x,i} = R_{y,i}\, 1[x_i > 0]`: relevance arriving at a neuron whose input is
    ``<= 0`` is dropped.  This is what iNNvestigate does with a separate ``keras.layers.ReLU`` layer (its
    LRP analyzers reverse layers without a kernel that are not ``keras.layers.Activation`` by their
    gradient, while a ReLU fused into a ``Dense``/``Conv2D`` passes); it differs from
    :class:`PassThrough` only where relevance reaches a neuron with zero activation (the rules that
    ignore the input, ``Flat`` and ``WSquare``, send relevance there).  On Flatten it is the reshape.
    Not conservative: the dropped relevance is lost.

    >>> from dtd.layers import ReLU
    >>> GradientPass().relevance(ReLU(), np.array([[-1.0, 0.0, 2.0]]), np.array([[1.0, 1.0, 1.0]])).tolist()
    [[0.0, 0.0, 1.0]]
    """

    reference = {
        "name": "gradient (of a relevance-passing layer)",
        "formula": "R_x = R_y * dy/dx (ReLU: R_x = R_y 1[x > 0])",
        "bias": "- (no bias)",
        "domain": "any x; elementwise layers and Flatten",
        "closed_form": "the layer's backward pass applied to R",
        "conservation": "where every neuron with R_y != 0 has x > 0 (ReLU)",
        "layers": "ReLU, Flatten, every layer with passes_relevance",
        "peers": {"Zennit": "-", "iNNvestigate": "separate keras.layers.ReLU in LRP analyzers and deep_taylor",
                  "Captum": "-", "LRP Toolbox": "-"},
        "tests": ["tests/test_rule_options.py::test_gradient_pass_on_relu_closed_form",
                  "tests/test_crosscheck_innvestigate.py::test_mapping_reproduces_innvestigate"],
    }

    def layer_types(self):
        return ("ReLU", "Flatten")

    def applies_to(self, layer):
        return getattr(layer, "passes_relevance", False)

    def relevance(self, layer, x, R):
        return layer._backward(x, R.reshape(layer._output_shape(x)))


def safe_divide(a, b):
    """``a / b`` with 0 where ``b == 0`` (the convention 0/0 := 0).

    >>> safe_divide(np.array([1.0, 2.0]), np.array([2.0, 0.0])).tolist()
    [0.5, 0.0]
    """
    return np.divide(a, b, out=np.zeros(np.broadcast_shapes(a.shape, b.shape), dtype=np.result_type(a, b)),
                     where=b != 0)


def stabilize(z, epsilon):
    """``z + epsilon * sign(z)`` with ``sign(0) = +1``; z itself when epsilon == 0.

    >>> stabilize(np.array([-2.0, 0.0, 3.0]), 0.5).tolist()
    [-2.5, 0.5, 3.5]
    """
    if epsilon == 0:
        return z
    return z + epsilon * np.where(z >= 0, 1, -1).astype(z.dtype)


def input_share(out, bias):
    r"""The inputs' share of a neuron's output when its bias may only absorb (``bias="absorb"``).

    .. math::

        t_j = \mathrm{clip}\Big(\frac{z_j - b_j}{z_j}, 0, 1\Big)
            = \mathrm{clip}\Big(1 - \frac{b_j}{z_j}, 0, 1\Big), \qquad t_j = 0 \text{ where } z_j = 0,

    with :math:`z_j = \sum_i x_i w_{ij} + b_j` the neuron's output: a bias of the output's sign keeps
    its part :math:`b_j / z_j` of :math:`R_j` (all of it where it outweighs the inputs), a bias against
    the output's sign keeps nothing and gives nothing, so :math:`0 \le t_j \le 1`.

    Parameters
    ----------
    out : ndarray, shape (N, out) or (N, C, H, W)
        The layer's output ``z`` (bias included).
    bias : ndarray, shape (out,) or (C,)

    Returns
    -------
    ndarray, the shape and dtype of ``out``

    >>> input_share(np.array([[2.0, 2.0, 2.0, 0.0]]), np.array([0.5, -1.0, 3.0, 1.0])).tolist()
    [[0.75, 1.0, 0.0, 0.0]]
    """
    b = bias.reshape((1, -1) + (1,) * (out.ndim - 2)).astype(out.dtype, copy=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.divide(b, out, out=np.zeros_like(out), where=out != 0)
    np.subtract(1, t, out=t)
    np.clip(t, 0, 1, out=t)
    t[out == 0] = 0
    return t


class Term:
    """One term ``sign * forward(input, modifier(W))`` of a group.

    Parameters
    ----------
    input : ndarray or None
        The modified input, shaped like x; None for an input known to be all
        zero (the term is dropped).
    modifier : callable or None
        Elementwise function of the layer's weights giving the term's weights
        (e.g. :func:`positive`); None for the weights themselves.
    sign : float
    """

    __slots__ = ("input", "modifier", "sign")

    def __init__(self, input, modifier=None, sign=1.0):
        self.input, self.modifier, self.sign = input, modifier, sign


class Group:
    """Terms normalised by one denominator, weighted by ``coef`` in the result.

    ``where`` (None, ``"positive"`` or ``"negative"``) restricts the group to the
    outputs whose plain pre-activation ``z = W x + b`` is > 0 or < 0: the
    relevance of the other outputs is not sent through it (used by the
    generalised gamma rule, :class:`~dtd.rules.Gamma` with ``generalized=True``).

    ``plain=True`` says the group's denominator is the layer's own output
    ``W x + b`` (LRP-0 / epsilon), so a recorded forward pass can be reused.
    """

    __slots__ = ("terms", "bias", "coef", "where", "plain")

    def __init__(self, terms, bias=None, coef=1.0, where=None, plain=False):
        if where not in (None, "positive", "negative"):
            raise ValueError(f"Group: where must be None, 'positive' or 'negative', got {where!r}")
        self.terms, self.bias, self.coef, self.where, self.plain = terms, bias, coef, where, plain


def select(z, where):
    """Mask of the outputs a group with ``where`` takes: all (None), ``z > 0`` or ``z < 0``."""
    if where is None:
        return None
    return z > 0 if where == "positive" else z < 0


def check_choice(value, allowed, owner, name):
    """``value`` if it is one of ``allowed``, else a ValueError naming the choices."""
    if value not in allowed:
        raise ValueError(f"{owner}: {name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def _modified_weights(weight, memo, reuse=False):
    """``term -> modifier(weight)``, each modifier applied once (kept in ``memo``).

    ``reuse=True`` (one block of a blocked layer, whose modified weights live only until the next
    block) writes the built-in modifiers' results into this thread's scratch buffers: fresh memory
    for every block would cost a page fault per page.
    """
    def weight_of(t):
        if t.modifier is None:
            return weight
        if t.modifier not in memo:
            builtin = t.modifier in _TAKES_OUT or isinstance(t.modifier, SignedScale)
            if reuse and builtin:
                buf = scratch(f"block-weights-{len(memo)}", weight.shape, weight.dtype)
                memo[t.modifier] = t.modifier(weight, out=buf)
            elif builtin:                               # kept across calls if the weights are frozen
                memo[t.modifier] = cached((weight,), ("modifier", t.modifier), lambda: t.modifier(weight))
            else:
                memo[t.modifier] = t.modifier(weight)
        return memo[t.modifier]
    return weight_of


def _scaled(z, sign):
    """``sign * z``, in place (z is a fresh array)."""
    if sign != 1:
        z *= sign
    return z


def _accumulate(z, zt, sign):
    """``z + sign * zt``, in place in z."""
    if sign == 1:
        z += zt
    elif sign == -1:
        z -= zt
    else:
        z += sign * zt
    return z


def sign_parts(x):
    """``(x^+, x^-)`` with None for a part that is all zero, and x itself for a part equal to x.

    After a ReLU (x >= 0) this is ``(x, None)`` at the cost of one reduction: no copies, and the
    terms of x^- drop out of the rules.

    >>> xp, xn = sign_parts(np.array([1.0, 2.0]))
    >>> xn is None, xp.tolist()
    (True, [1.0, 2.0])
    >>> [p.tolist() for p in sign_parts(np.array([-1.0, 2.0]))]
    [[0.0, 2.0], [-1.0, 0.0]]
    """
    lo = x.min()
    if lo >= 0:                                        # the common case (after a ReLU): one reduction
        return x, None
    hi = x.max()
    xp = None if hi <= 0 else np.maximum(x, 0)
    xn = x if hi <= 0 else np.minimum(x, 0)
    return xp, xn


def modified(a, modifier):
    """``modifier(a)`` for a built-in modifier, kept across calls when ``a`` is frozen (:mod:`dtd.frozen`);
    None for ``a`` None.

    >>> modified(np.array([1.0, -2.0]), positive).tolist()
    [1.0, 0.0]
    """
    if a is None:
        return None
    return cached((a,), ("modifier", modifier), lambda: modifier(a))


def positive(a, out=None):
    """``max(0, a)`` (a weight modifier and an input modifier); into ``out`` if given."""
    return np.maximum(a, 0, out=out)


def negative(a, out=None):
    """``min(0, a)``; into ``out`` if given."""
    return np.minimum(a, 0, out=out)


class SignedScale:
    r"""The weight modifier :math:`w \mapsto a\,w + c\,w^+`.

    Every sign-based modifier of the rules has this form: :math:`w^+` is
    (0, 1), :math:`w^-` is (1, -1), gamma's :math:`w + \gamma w^+` is
    (1, gamma) and the generalised rule's :math:`w + \gamma w^-` is
    (1 + gamma, -gamma).  The pair (``basis``) lets several denominators be
    combined from the two products :math:`x w` and :math:`x w^+`
    (:meth:`LinearRule.forward`).

    >>> SignedScale(1.0, 0.5)(np.array([2.0, -2.0])).tolist()
    [3.0, -2.0]
    >>> SignedScale(1.5, -0.5)(np.array([2.0, -2.0])).tolist()
    [2.0, -3.0]
    """

    __slots__ = ("a", "c")

    def __init__(self, a, c):
        self.a, self.c = float(a), float(c)

    @property
    def basis(self):
        return self.a, self.c

    def __call__(self, w, out=None):
        a, c = self.a, self.c
        if a == 1 and c >= 0:                                  # w + c w+: two passes
            return np.maximum(np.multiply(w, 1.0 + c, out=out), w, out=out)
        if c <= 0 and a + c == 1:                              # w + (a - 1) w-
            return np.minimum(np.multiply(w, a, out=out), w, out=out)
        return np.add(a * w, c * np.maximum(w, 0), out=out)

    def __eq__(self, other):
        return isinstance(other, SignedScale) and self.basis == other.basis

    def __hash__(self):
        return hash(("SignedScale",) + self.basis)

    def __repr__(self):
        return f"SignedScale({self.a!r}, {self.c!r})"


def basis(modifier):
    """``(a, c)`` with ``modifier(w) = a w + c w^+``, or None if it has no such form (w^2, ones)."""
    if modifier is None:
        return 1.0, 0.0
    if modifier is positive:
        return 0.0, 1.0
    if modifier is negative:
        return 1.0, -1.0
    return getattr(modifier, "basis", None) if isinstance(modifier, SignedScale) else None


def square(a, out=None):
    """``a * a`` (the w^2 rule's weight modifier); into ``out`` if given."""
    return np.multiply(a, a, out=out)


def ones(a, out=None):
    """An array of ones like ``a`` (the flat rule's weight modifier); ``out`` filled if given."""
    if out is None:
        return np.ones_like(a)
    out.fill(1)
    return out


#: the modifiers above take ``out=`` (a user's own modifier is called with the weights alone)
_TAKES_OUT = (positive, negative, square, ones)


class LinearRule(Rule):
    """A rule for the linear layers (Dense, Conv2d, SumPool2d, AvgPool2d).

    Subclasses define :meth:`groups` (the fast path's data) and
    :meth:`explicit_groups` (the closed form over an explicit matrix).

    Parameters
    ----------
    epsilon : float
        Stabiliser ``epsilon * sign(z)`` (``sign(0) = +1``) added to every
        denominator.  0 (the default for every rule but :class:`Epsilon`) means
        no stabiliser: a message with a zero denominator is zero.
    """

    epsilon = 0.0

    @property
    def absorbs_bias(self):
        """``bias="absorb"``: the bias first keeps its share of ``R_j`` (:func:`input_share`), and the
        rule's groups (without a bias) pass on the rest."""
        return getattr(self, "bias", None) == "absorb"

    def layer_types(self):
        return ("LinearLayer",)

    # -- the fast path ---------------------------------------------------
    def groups(self, x, weight, bias):
        """The rule as data: a list of :class:`Group` built from the layer's parameters."""
        raise NotImplementedError  # abstract

    def relevance(self, layer, x, R, out=None, prepared=None):
        """The four steps for every group.

        Parameters
        ----------
        layer : LinearLayer
        x : ndarray
            The layer's input.
        R : ndarray
            Relevance of the layer's outputs.
        out : ndarray, optional
            The layer's output ``forward(x)``, if already computed (LRP-0 and
            epsilon then skip step 1).
        prepared : dict, optional
            What :meth:`forward` returned for this ``x``: the groups and blocks, step 1 of
            some groups, the modified weights.

        Steps 1-3 run for each block of output units of ``layer.output_blocks`` (one block, except for
        large dense layers whose weights a term modifies: each block's modified weights are then made,
        used and dropped while in cache); step 4 runs once, on the sums over the blocks.  Terms that
        share an input share one transposed product in step 3 (their ``s`` and weights stacked).
        """
        R = R.astype(x.dtype, copy=False)
        if prepared is None:
            prepared = self._plan(layer, x)
        weight, bias, groups, blocks = prepared["plan"]
        if len(blocks) > 1:
            # blocks of a large dense layer: only the outputs with some relevance send any (their s is 0
            # elsewhere), so the blocks are remade over those (after a ReLU about half; one at the top)
            active = np.flatnonzero(np.any(R != 0, axis=tuple(a for a in range(R.ndim) if a != 1)))
            if active.size < R.shape[1]:
                blocks = layer.output_blocks(weight, bias, True, active=active)
        grads = {}                                         # id(input) -> [input, sum_t coef * sign_t * c_t]
        for rows, w, b in blocks:
            if w is None:                                  # rows gathered for this block only (output_blocks)
                w = np.take(weight, rows, axis=0, mode="clip", out=scratch("block-rows", (len(rows),) + weight.shape[1:],
                                                              weight.dtype))
            sub = (lambda a: a) if rows is None else (lambda a: a if a is None else a[:, rows])
            # modified weights are kept for the next step only within one block (they are the block's rows)
            memo = prepared["weights"] if rows is None else {}
            quotients = self._quotients(layer, x, sub(R), sub(out), groups, w, b, rows, prepared["z"], memo,
                                        reuse=rows is not None)
            for inp, c in self._backward(layer, x.shape, quotients):
                if id(inp) in grads:
                    grads[id(inp)][1] += c
                else:
                    grads[id(inp)] = [inp, c]
        result = None
        for inp, c in grads.values():                      # step 4: R_x = sum_t input_t * (coef sign_t c_t)
            # c is this call's own array (step 3's output): overwritten, no new array of the input's size
            mine = c.flags.writeable and c.dtype == np.result_type(inp, c) and not np.may_share_memory(c, inp)
            if result is None:
                result = np.multiply(inp, c, out=c if mine else None)
            elif mine:
                result += np.multiply(inp, c, out=c)
            else:
                result += inp * c
        return np.zeros_like(x) if result is None else result

    def forward(self, layer, x):
        """``layer``'s output for ``x``, and step 1 of the groups that can share its matrix product.

        A network's explain calls this in its forward pass: a group whose terms
        all take ``x`` itself (gamma, z+ and alpha-beta after a ReLU) has its
        denominator computed in the same product as the layer's output (one
        im2col for both, a taller weight matrix for BLAS), and :meth:`relevance`
        then skips its step 1.

        Returns
        -------
        y : ndarray
            ``layer.forward(x)`` (possibly a view into a larger array).
        prepared : dict
            To pass to :meth:`relevance` with this ``x``.
        """
        prepared = self._plan(layer, x)
        weight, bias, groups, blocks = prepared["plan"]
        if not getattr(layer, "stackable", False) or len(blocks) > 1:
            return layer.linear(x, weight, bias), prepared
        weight_of = _modified_weights(weight, prepared["weights"])
        fusable = [(g, group, terms) for g, (group, terms) in enumerate(groups)
                   if not group.plain and all(t.input is x for t in terms)]
        if not fusable:
            return layer.linear(x, weight, bias), prepared
        if len(fusable) > 1 and all(group.where is not None and len(terms) == 1 and basis(terms[0].modifier)
                                    for _, group, terms in fusable):
            return self._forward_in_basis(layer, x, weight, bias, fusable, prepared)
        maps = [(weight, bias)]
        for _, group, terms in fusable:
            w = None
            for t in terms:
                wt = weight_of(t)
                w = (wt if t.sign == 1 else t.sign * wt) if w is None else w + t.sign * wt
            maps.append((w, group.bias))
        outs = layer.linear_stack(x, maps)
        prepared["z"] = {g: z for (g, _, _), z in zip(fusable, outs[1:])}
        return outs[0], prepared

    @staticmethod
    def _forward_in_basis(layer, x, weight, bias, fusable, prepared):
        r"""Several sign-restricted groups whose weights are :math:`a w + c w^+` (generalised gamma): one
        product for :math:`p = x w^+` beside the layer's own :math:`y = x w + b`, and each denominator
        combined from the two,

        .. math:: z_g = s\,(a\,(y - b) + c\,p) + b_g = s a\, y + s c\, p + (b_g - s a\, b),

        (:math:`s` the term's sign) instead of one product per group: three passes over the output, made
        only when the group receives relevance (:meth:`_quotients`).

        Each group keeps only the outputs of one sign of :math:`y` (``Group.where``); there the parts of
        :math:`z_g` add without cancellation for the generalised gamma rule on :math:`x \ge 0` (where
        y > 0: :math:`y + \gamma p + \gamma b^+`, all terms >= 0; where y < 0:
        :math:`(1 + \gamma) y - \gamma p - \gamma b^+`, all <= 0), so the result carries the rounding
        of the forward pass itself.
        """
        y, p = layer.linear_stack(x, [(weight, bias), (modified(weight, positive), None)])
        shape = (1, -1) + (1,) * (y.ndim - 2)                  # a bias along axis 1

        def combined(t, group):
            a, c = basis(t.modifier)
            a, c = t.sign * a, t.sign * c
            z = np.multiply(p, c) if c else np.zeros_like(y)
            if a == 1:
                z += y
            elif a:
                z += a * y
            shift = None
            if group.bias is not None:
                shift = group.bias if bias is None or not a else group.bias - a * bias
            elif bias is not None and a:
                shift = -a * bias
            if shift is not None:
                z += shift.reshape(shape)
            return z
        for g, group, (t,) in fusable:             # made when relevance needs them (a group may receive none)
            prepared["z"][g] = (lambda t=t, group=group: combined(t, group))
        return y, prepared

    def _plan(self, layer, x):
        """What the four steps on ``layer`` and ``x`` run over, computed once for :meth:`forward` and
        :meth:`relevance`: ``{"plan": (weight, bias, groups, blocks), "z": {}, "weights": {}}``.

        ``groups`` are ``[(group, terms)]`` without the terms whose input is zero (e.g. the x^- terms of
        z+ after a ReLU); ``blocks`` are ``layer.output_blocks``; "z" will hold the denominators computed
        with the forward pass (by group index) and "weights" the modified weights (by modifier).
        """
        weight, bias = layer.params(x.dtype)
        groups = []
        for group in self.groups(x, weight, bias):
            terms = [t for t in group.terms if t.input is not None and (t.input is x or t.input.any())]
            if terms:
                groups.append((group, terms))
        modified = any(t.modifier is not None for _, terms in groups for t in terms)
        return {"plan": (weight, bias, groups, layer.output_blocks(weight, bias, modified)), "z": {}, "weights": {}}

    def _quotients(self, layer, x, R, out, groups, weight, bias, rows, prepared_z, memo, reuse=False):
        """Steps 1 and 2 of every group on one block of outputs: ``[(term, coef * sign, s, W_t)]``."""
        weight_of = _modified_weights(weight, memo, reuse)
        z_plain = out
        if self.absorbs_bias and bias is not None:     # the bias keeps its share first (input_share)
            if z_plain is None:
                z_plain = layer.linear(x, weight, bias)
            R = (R * input_share(z_plain, bias)).astype(x.dtype, copy=False)
        steps, kept = [], []
        # a group restricted to outputs of one sign that receive no relevance there sends nothing: skipped
        # (on a ReLU-gated layer the generalised gamma rule's group of z < 0), unless the rule shares
        # between its groups (_share pairs them)
        may_skip = type(self)._share is LinearRule._share
        for g, (group, terms) in enumerate(groups):
            Rg = R
            if group.where is not None:
                if z_plain is None:
                    z_plain = layer.linear(x, weight, bias)
                mask = select(z_plain, group.where)
                # (R != 0) & mask, then any: two fast passes; np.any(R, where=mask) is a masked reduction
                # that NumPy runs ~50x slower (a quarter of MobileNetV2's explanation)
                if may_skip and not np.logical_and(mask, R != 0).any():
                    continue
                Rg = np.multiply(R, mask).astype(x.dtype, copy=False)   # ~15x faster than np.where
            kept.append((group, terms))
            if group.plain and out is not None and (group.bias is not None or bias is None):
                z, own = out, False                        # step 1 was the recorded forward pass
            elif group.plain and out is not None:          # ... minus the bias the group leaves out
                z, own = out - bias.reshape((1, -1) + (1,) * (out.ndim - 2)), True
            elif g in prepared_z:
                z, own = prepared_z[g], True               # step 1 was done with the forward pass
                if callable(z):
                    z = z()
            else:                                          # step 1: z = sum_t sign_t forward(input_t, W_t) + b
                z, own = None, True
                gb = group.bias if rows is None or group.bias is None else group.bias[rows]
                for n, t in enumerate(terms):
                    zt = layer.linear(t.input, weight_of(t), gb if n == 0 else None)
                    z = _scaled(zt, t.sign) if z is None else _accumulate(z, zt, t.sign)
            steps.append([Rg, z, own])
        self._share(steps)
        result = []
        for (group, terms), (Rg, z, own) in zip(kept, steps):
            s = self._quotient(Rg, z, own)                 # step 2: s = R / z
            result += [(t, group.coef * t.sign, s, weight_of(t)) for t in terms]
        return result

    def _share(self, steps):
        """Between steps 1 and 2: ``steps`` is ``[[R_g, z_g, own], ...]`` per group (z before the stabiliser);
        a rule may replace ``R_g`` in place (e.g. by output, from the other groups' denominators).  Default:
        nothing."""

    @staticmethod
    def _backward(layer, x_shape, quotients):
        """Step 3: ``(input, sum over its terms of coef * sign * backward(s, W_t))`` for each distinct input.

        On a layer whose weights stack (Dense, Conv2d), the terms of one input share a single transposed
        product of their stacked ``coef * sign * s`` and weights (output axis), and inputs with one term
        each and the same ``s`` (z^B's x, l and h) share one of their weights stacked on the input axis.
        """
        by_input = {}
        for t, k, s, w in quotients:
            by_input.setdefault(id(t.input), (t.input, []))[1].append((k, s, w))
        stackable = getattr(layer, "stackable", False)
        singles = [(key, inp, items[0]) for key, (inp, items) in by_input.items() if len(items) == 1]
        done = set()
        if stackable and len(singles) > 1 and all(item[1] is singles[0][2][1] for _, _, item in singles):
            s = singles[0][2][1]
            ws, ks = tuple(w for _, _, (_, _, w) in singles), tuple(k for _, _, (k, _, _) in singles)
            w_all = cached(ws, ("hstack", ks), lambda: np.concatenate([w if k == 1 else k * w
                                                                          for k, w in zip(ks, ws)], axis=1))
            shape = (x_shape[0], x_shape[1] * len(singles)) + tuple(x_shape[2:])
            parts = np.split(layer.linear_backward(s, w_all, shape), len(singles), axis=1)
            yield from zip([inp for _, inp, _ in singles], parts)
            done = {key for key, _, _ in singles}
        for key, (inp, items) in by_input.items():
            if key in done:
                continue
            if len(items) > 1 and stackable:
                s_all = np.concatenate([s if k == 1 else k * s for k, s, _ in items], axis=1)
                ws = tuple(w for _, _, w in items)
                w_all = cached(ws, ("vstack",), lambda: np.concatenate(ws, axis=0))
                yield inp, layer.linear_backward(s_all, w_all, x_shape)
                continue
            c = None
            for k, s, w in items:
                ct = layer.linear_backward(s, w, x_shape)
                c = _scaled(ct, k) if c is None else _accumulate(c, ct, k)
            yield inp, c

    def _quotient(self, R, z, own):
        """``R / stabilize(z)`` with 0/0 := 0 (step 2); ``own`` says z may be overwritten."""
        if self.epsilon:
            eps = z.dtype.type(self.epsilon)
            # eps sign(z), sign(0) = +1, in z's dtype, as (1 - 2 [z < 0]) eps: exact, eps = inf included;
            # these passes run ~15x faster than np.where(z >= 0, eps, -eps)
            sign = np.less(z, 0).astype(z.dtype)
            sign *= -2
            sign += 1
            sign *= eps
            if own:
                z += sign
            else:
                z = z + sign
            return np.divide(R, z, out=z)                  # |z| >= epsilon: no zero denominator
        zero = z == 0
        if not zero.any():
            return np.divide(R, z, out=z if own else None)
        # 0/0 := 0 without dividing by zero: divide by z + [z = 0] (exact), then zero those entries; ~8x
        # faster than s[zero] = 0 where many denominators vanish (alpha-beta's one-sided parts)
        d = np.add(z, zero, out=z if own else None)
        s = np.divide(R, d, out=d)
        s *= ~zero
        return s

    # -- the closed form -------------------------------------------------
    def explicit_groups(self, W, b, x, connected):
        """Closed form data: a list of ``(coef, q, bias)`` or ``(coef, q, bias, where)`` with ``q`` of
        shape (N, out, in), ``bias`` of shape (out,) or None, and ``where`` as in :class:`Group`."""
        raise NotImplementedError  # abstract

    def explicit(self, W, b, x, R, connected=None):
        r"""The rule's closed form over an explicit matrix.

        .. math:: R_i = \sum_g c_g \sum_j \frac{q^{(g)}_{ij}}{\sum_{i'} q^{(g)}_{i'j} + b^{(g)}_j + \epsilon\,\mathrm{sign}} R_j

        Parameters
        ----------
        W : ndarray, shape (out, in)
            The layer as a dense matrix (a convolution unrolled).
        b : ndarray, shape (out,)
        x : ndarray, shape (N, in)
        R : ndarray, shape (N, out)
        connected : ndarray of bool, shape (out, in), optional
            Which input enters which output in the layer's structure, whatever the weight's value
            (0 included): used by :class:`Flat` only.  Default: every pair, i.e. ``W`` is a Dense
            layer's matrix, as on the fast path; for a convolution or pooling unrolled to a matrix pass
            its receptive fields (``tests/_matrices.py`` builds them), since ``W != 0`` would also drop
            a kernel weight that happens to be exactly zero.

        Returns
        -------
        ndarray, shape (N, in)
        """
        if connected is None:
            connected = np.ones(W.shape, dtype=bool)
        result = np.zeros(x.shape, dtype=np.result_type(x, W))
        if self.absorbs_bias and b is not None:
            R = R * input_share(x @ W.T + b, b)
        data = []
        for coef, q, bias, *where in self.explicit_groups(W, b, x, connected):
            z = q.sum(axis=2)
            if bias is not None:
                z = z + bias
            Rg = R
            if where and where[0] is not None:
                Rg = np.where(select(x @ W.T + (0 if b is None else b), where[0]), R, 0)
            data.append((coef, q, [Rg, z, True]))
        self._share([step for _, _, step in data])
        for coef, q, (Rg, z, _) in data:
            result += coef * np.einsum("nji,nj->ni", q, safe_divide(Rg, stabilize(z, self.epsilon)))
        return result


class DTDRule(LinearRule):
    """A rule derived by deep Taylor decomposition: a search direction ``v`` defines the root point.

    For each output neuron j the root point is searched on the line
    ``x~ = x - t v(j)``; it lies on the plane ``sum_i x~_i w_ij + b_j = 0`` at

    .. math:: t_j = \\frac{\\sum_i x_i w_{ij} + b_j}{\\sum_i v_{ij} w_{ij}}

    and the first-order Taylor terms at it, ``w_ij (x_i - x~_ij) R_j / z_j``,
    are the rule's messages (Montavon et al. 2017, Sec. 4; seed 001).
    """

    def search_direction(self, W, x):
        """``v`` of shape (N, out, in): the direction searched for each output neuron."""
        raise NotImplementedError  # abstract

    def root_point(self, W, b, x):
        """Root points ``x~`` of shape (N, out, in), one per output neuron (nan where ``v . w_j = 0``)."""
        v = self.search_direction(W, x)
        z = x @ W.T + b
        vw = np.einsum("nji,ji->nj", v, W)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(vw != 0, z / vw, np.nan)
        return x[:, None, :] - t[:, :, None] * v

    def taylor_messages(self, W, b, x, R):
        """First-order Taylor terms at the root point: ``w_ij (x_i - x~_ij) R_j / z_j``, shape (N, out, in)."""
        xt = self.root_point(W, b, x)
        z = x @ W.T + b
        return W[None] * (x[:, None, :] - xt) * safe_divide(R, z)[:, :, None]
