"""Zero padding of the two spatial axes, as a layer of its own (ONNX ``Pad``, ``nn.ZeroPad2d``).

The ONNX import folds a zero ``Pad`` into the padding of the convolution or
pooling that reads it whenever that is exact -- into a convolution always, even
when it differs at the two ends of an axis (:class:`~dtd.layers.Conv2d` takes
``padding=(top, left, bottom, right)``), so no ZeroPad2d is left before a
convolution; this layer is what remains: a ``Pad`` before a pool where folding
would not be exact, or whose reader has no padding of its own (a ReLU, an
output).
"""
import numpy as np

from ..rules.base import Rule
from .base import Layer
from .padded_pool import _pads4

__all__ = ["ZeroPad2d", "Crop"]


class ZeroPad2d(Layer):
    r"""Pad the height and width of an (N, C, H, W) batch with zeros.

    .. math:: y_{n,c,i,j} = \begin{cases} x_{n,c,i-t,j-l} & 0 \le i-t < H,\ 0 \le j-l < W \\
                                          0 & \text{otherwise} \end{cases}

    Parameters
    ----------
    pads : int or (top, left, bottom, right)
        Non-negative; an int pads all four sides, ``(pH, pW)`` both ends of each axis.

    Shapes: (N, C, H, W) -> (N, C, H + top + bottom, W + left + right).

    The gradient and the relevance (:class:`Crop`, the default and only rule)
    keep the entries of the input positions and drop the padded ones.

    **When relevance is lost.**  The relevance that the layer above sends to a
    padded position is dropped.  That is zero under every rule whose message to
    an input is proportional to the input (LRP-0, epsilon, gamma, alpha-beta,
    z+: ``x_i = 0`` there), so for them this layer followed by ``Conv2d(padding=0)``
    gives exactly the relevance of a convolution padding the same way by itself.
    It is not zero under the rules that send relevance to inputs whatever their
    value: z^B (a padded zero receives ``-l w^+ - h w^-``), w^2 and flat (they
    spread over every input of the window).  Those lose the share of the
    padding, and here the two forms differ: :class:`~dtd.layers.Conv2d`'s own
    padding pads the rule's *modified* inputs (``x``, ``l``, ``h``, ones) with
    zeros as well, so its padding receives no relevance and does not enter the
    denominators, while after this layer the padded positions are inputs like
    any other (with the bounds ``l``, ``h`` or the ones of the rule) and their
    share is cropped away.  (This is why the ONNX import never leaves a ZeroPad2d
    before a convolution: the heatmap would depend on how the exporter wrote
    the padding.)

    >>> layer = ZeroPad2d((0, 0, 1, 1))
    >>> layer.forward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))[0, 0].tolist()
    [[1.0, 2.0, 0.0], [3.0, 4.0, 0.0], [0.0, 0.0, 0.0]]
    >>> R = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> layer.relevance(np.ones((1, 1, 2, 2)), R)[0, 0].tolist()
    [[0.0, 1.0], [3.0, 4.0]]
    """

    input_ndim = 4
    config_keys = ("pads",)
    #: zero padding commutes with a ReLU: gating is decided by the layers after it (dtd.gating)
    transparent_to_gating = True

    def __init__(self, pads):
        self.pads = _pads4(pads, "ZeroPad2d")

    def output_shape(self, shape):
        N, C, H, W = shape
        t, l, b, r = self.pads
        return (N, C, H + t + b, W + l + r)

    def _forward(self, x):
        t, l, b, r = self.pads
        return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))

    def crop(self, a, x_shape):
        """The entries of ``a`` (shaped like the output) at the input positions: shape ``x_shape``, a copy."""
        t, l = self.pads[:2]
        H, W = x_shape[2:]
        return a[:, :, t:t + H, l:l + W].copy()

    def _backward(self, x, grad_y):
        return self.crop(grad_y, x.shape)

    def default_rule(self):
        return Crop()

    def _repr_args(self):
        return f"pads={self.pads}"


class Crop(Rule):
    r"""Relevance of a :class:`ZeroPad2d`: the relevance of the input positions, the padded ones dropped.

    .. math:: R_{n,c,i,j} = R^{\mathrm{out}}_{n,c,i+t,j+l}

    Conservative exactly when the padded positions hold no relevance (see
    :class:`ZeroPad2d` for which rules of the layer above send some there).

    >>> layer = ZeroPad2d(1)
    >>> R = np.ones((1, 1, 3, 3))
    >>> float(layer.relevance(np.zeros((1, 1, 1, 1)), R, Crop()).sum())
    1.0
    """

    def layer_types(self):
        return (ZeroPad2d,)

    def relevance(self, layer, x, R):
        return layer.crop(R, x.shape)
