"""Layers: each with ``forward``, ``backward`` (gradient) and ``relevance``."""
from .activation import Flatten, ReLU
from .base import Layer, LinearLayer
from .conv import Conv2d
from .dense import Dense
from .lrn import LRN
from .pooling import AvgPool2d, LpPool2d, MaxPool2d, SumPool2d

__all__ = ["Layer", "LinearLayer", "Dense", "Conv2d", "ReLU", "Flatten",
           "SumPool2d", "AvgPool2d", "MaxPool2d", "LpPool2d", "LRN"]
