"""Fully connected layer."""
import numpy as np

from .._validation import as_float_param, check_relevance
from .base import LinearLayer

__all__ = ["Dense"]


class Dense(LinearLayer):
    r"""Fully connected layer :math:`z_j = \sum_i x_i w_{ji} + b_j`.

    Parameters
    ----------
    weight : array_like, shape (out, in)
        PyTorch/ONNX layout.
    bias : array_like, shape (out,), optional
        Zero when omitted.

    Shapes: ``x`` (N, in) -> ``y`` (N, out).

    >>> layer = Dense([[1.0, -2.0]], [0.5])
    >>> layer.forward(np.array([[3.0, 1.0]])).tolist()
    [[1.5]]
    """

    input_ndim = 2
    array_keys = ("weight", "bias")
    stackable = True

    def __init__(self, weight, bias=None):
        self.weight = as_float_param(weight, "weight", 2, "Dense")
        if bias is None:
            bias = np.zeros(self.weight.shape[0], dtype=self.weight.dtype)
        self.bias = as_float_param(bias, "bias", 1, "Dense")
        if self.bias.shape[0] != self.weight.shape[0]:
            raise ValueError(
                f"Dense: bias has {self.bias.shape[0]} entries, weight has {self.weight.shape[0]} outputs"
            )

    def _channels(self):
        return self.weight.shape[1]

    def output_shape(self, shape):
        return (shape[0], self.weight.shape[0])

    def params(self, dtype):
        return self.weight.astype(dtype, copy=False), self.bias.astype(dtype, copy=False)

    def linear(self, x, weight, bias):
        z = x @ weight.T
        if bias is not None:
            z += bias
        return z

    def linear_backward(self, g, weight, x_shape):
        return g @ weight

    #: bytes of weights per block of output neurons when a rule modifies the weights (see output_blocks)
    block_bytes = 2 ** 20

    def output_blocks(self, weight, bias, modified, active=None):
        """Blocks of about :attr:`block_bytes` of weight rows when ``modified`` and the weights are larger.

        A rule that modifies the weights (z+, gamma, ...) then never holds a modified copy of the whole
        matrix (392 MiB for VGG-16's first dense layer in float32): each block is made, used for its
        outputs' denominators and messages, and dropped while it is still in cache.

        ``active`` (sorted indices of output units) restricts the blocks to those units: a rule passes
        the outputs whose relevance is not zero for every sample, since the others send none.  Their
        blocks are ``(indices, None, bias rows)``: the rule gathers the weight rows itself, one block at
        a time.
        """
        if not modified or weight.nbytes <= 2 * self.block_bytes:
            return [(None, weight, bias)]
        step = max(1, self.block_bytes // (weight.shape[1] * weight.itemsize))
        if active is not None:
            return [(active[i:i + step], None, None if bias is None else bias[active[i:i + step]])
                    for i in range(0, len(active), step)]
        return [(slice(i, i + step), weight[i:i + step], None if bias is None else bias[i:i + step])
                for i in range(0, weight.shape[0], step)]

    def param_grads(self, x, grad_y):
        """Gradients of ``sum(grad_y * forward(x))`` w.r.t. ``(weight, bias)``.

        Returns
        -------
        (ndarray (out, in), ndarray (out,))
        """
        self._check(x)
        check_relevance(grad_y, self.output_shape(x.shape), self, name="grad_y")
        return grad_y.T @ x, grad_y.sum(axis=0)

    def _repr_args(self):
        return f"in={self.weight.shape[1]}, out={self.weight.shape[0]}"
