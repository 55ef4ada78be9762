"""Grouped 2-D convolution (ONNX ``Conv`` with ``group > 1``, e.g. AlexNet's split layers)."""
import numpy as np

from .._validation import check_relevance
from .conv import Conv2d

__all__ = ["GroupedConv2d"]


class GroupedConv2d(Conv2d):
    r"""Convolution whose channels are split into ``groups`` independent convolutions.

    Output channels ``[k C_out/g, (k+1) C_out/g)`` see only the input channels
    ``[k C_in/g, (k+1) C_in/g)``:

    .. math:: z_{o,i,j} = \sum_{c \in \mathrm{group}(o),\,a,\,b} w_{o,\,c - c_0(o),\,a,\,b}\,
              x_{c,\, i s_H + a - p_H,\, j s_W + b - p_W} + b_o

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in / groups, kH, kW)
        The ONNX/PyTorch layout of a grouped convolution.
    bias, stride, padding
        As :class:`Conv2d`.
    groups : int
        Divides C_out.

    Shapes: (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    It is a :class:`Conv2d` (composites treat it as one); the operator runs one
    convolution per group (a loop over the groups, not over positions).
    Unconnected channel pairs are not connections, which matters for the flat
    rule only.

    >>> w = np.ones((2, 1, 1, 1))
    >>> GroupedConv2d(w, groups=2).forward(np.array([[[[1.0]], [[5.0]]]])).ravel().tolist()
    [1.0, 5.0]
    """

    config_keys = ("stride", "padding", "groups")
    stackable = False           # stacking along the output channels would mix the groups

    def __init__(self, weight, bias=None, stride=1, padding=0, groups=1):
        super().__init__(weight, bias, stride, padding)
        if int(groups) != groups or groups < 1:
            raise ValueError(f"GroupedConv2d: groups must be a positive int, got {groups!r}")
        self.groups = int(groups)
        if self.weight.shape[0] % self.groups:
            raise ValueError(f"GroupedConv2d: {self.weight.shape[0]} output channels do not split into "
                             f"{self.groups} groups")

    def _channels(self):
        return self.weight.shape[1] * self.groups

    def _slices(self):
        co, ci = self.weight.shape[0] // self.groups, self.weight.shape[1]
        return [(slice(k * ci, (k + 1) * ci), slice(k * co, (k + 1) * co)) for k in range(self.groups)]

    def linear(self, x, weight, bias):
        return np.concatenate([Conv2d.linear(self, x[:, i], weight[o], None if bias is None else bias[o])
                               for i, o in self._slices()], axis=1)

    def linear_backward(self, g, weight, x_shape):
        N, _, H, W = x_shape
        ci = self.weight.shape[1]
        return np.concatenate([Conv2d.linear_backward(self, g[:, o], weight[o], (N, ci, H, W))
                               for _, o in self._slices()], axis=1)

    def param_grads(self, x, grad_y):
        """Gradients of ``sum(grad_y * forward(x))`` w.r.t. ``(weight, bias)``, shaped like them."""
        self._check(x)
        check_relevance(grad_y, self.output_shape(x.shape), self, name="grad_y")
        dw = np.concatenate([Conv2d.param_grads(self._group_view(), x[:, i], grad_y[:, o])[0]
                             for i, o in self._slices()], axis=0)
        return dw, grad_y.sum(axis=(0, 2, 3))

    def _group_view(self):
        """A plain Conv2d with one group's geometry (its weights are not used by ``param_grads``)."""
        co = self.weight.shape[0] // self.groups
        return Conv2d(self.weight[:co], None, self.stride, self.padding)

    def _repr_args(self):
        return super()._repr_args() + f", groups={self.groups}"
