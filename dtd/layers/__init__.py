"""Layers: each with ``forward``, ``backward`` (gradient) and ``relevance``."""
from .activation import Flatten, ReLU
from .base import Layer, LinearLayer
from .conv import Conv2d
from .dense import Dense
from .lrn import LRN
from .pooling import AvgPool2d, LpPool2d, MaxPool2d, SumPool2d
from .affine import Affine
from .grouped_conv import GroupedConv2d
from .identity import Identity
from .padded_pool import PaddedAvgPool2d, PaddedMaxPool2d
from .scaled_pool import ScaledSumPool2d
from .tanh import Tanh
from .transpose import PermuteBack, Transpose
from .permute import ChannelPermutation, ChannelPermuteBack
from .slice import ChannelSlice, SliceScatter
from .pad import Crop, ZeroPad2d
from .clip import Clip
from .leaky_relu import LeakyReLU, PReLU
from .sigmoid import HardSigmoid, Sigmoid
from .swish import HardSwish, SiLU
from .distance import SquaredDistance
from .softmin import SoftMinPool

__all__ = ["Layer", "LinearLayer", "Dense", "Conv2d", "ReLU", "Flatten",
           "SumPool2d", "AvgPool2d", "MaxPool2d", "LpPool2d", "LRN"]
__all__ += ["Affine", "GroupedConv2d", "Identity", "PaddedAvgPool2d", "PaddedMaxPool2d", "ScaledSumPool2d",
            "Tanh", "Transpose", "PermuteBack"]
__all__ += ["Clip", "LeakyReLU", "PReLU", "Sigmoid", "HardSigmoid", "SiLU", "HardSwish"]
__all__ += ["ZeroPad2d", "Crop"]
__all__ += ["ChannelPermutation", "ChannelPermuteBack"]
__all__ += ["ChannelSlice", "SliceScatter"]
__all__ += ["SquaredDistance", "SoftMinPool"]
