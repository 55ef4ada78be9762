"""Sum pooling times a constant (the LRP Toolbox's ``SumPool``)."""
import numpy as np

from .pooling import SumPool2d

__all__ = ["ScaledSumPool2d"]


class ScaledSumPool2d(SumPool2d):
    r"""Sum pooling with weight ``scale``: :math:`y_j = \mathrm{scale} \sum_{i \in \mathrm{window}(j)} x_i`.

    The LRP Toolbox's ``SumPool h w s0 s1`` layer is this layer with
    ``scale = 1 / sqrt(h w)`` (the default), which keeps its outputs well
    conditioned.  A linear layer with all weights equal to ``scale``: every
    linear rule applies, and their relevance does not depend on ``scale``.

    >>> ScaledSumPool2d(2).forward(np.ones((1, 1, 2, 2))).ravel().tolist()  # 4 / sqrt(4)
    [2.0]
    """

    config_keys = ("kernel_size", "stride", "padding", "scale")

    def __init__(self, kernel_size, stride=None, padding=0, scale=None):
        super().__init__(kernel_size, stride, padding)
        if scale is None:
            scale = 1.0 / np.sqrt(self.kernel_size[0] * self.kernel_size[1])
        scale = float(scale)
        if not np.isfinite(scale) or scale == 0:
            raise ValueError(f"ScaledSumPool2d: scale must be finite and non-zero, got {scale}")
        self.scale = scale

    def weight_value(self):
        return self.scale

    def _repr_args(self):
        return super()._repr_args() + f", scale={self.scale:g}"
