"""dtd: a NumPy reference implementation of Deep Taylor Decomposition and Layer-wise Relevance Propagation.

>>> import numpy as np, dtd
>>> net = dtd.Sequential([dtd.layers.Dense([[1.0, 2.0]], [0.0]), dtd.layers.ReLU()])
>>> net.explain(np.array([[1.0, 1.0]]), dtd.rules.ZPlus()).tolist()
[[1.0, 2.0]]
"""
from . import composites, evaluate, layers, render, rules
from .explainers import gradient_x_input, sensitivity, simple_taylor
from .graph import Graph
from .io import ModelFileError, load, save
from .network import Sequential

__version__ = "0.1.0"

__all__ = ["layers", "rules", "composites", "evaluate", "render", "Sequential", "Graph", "sensitivity", "gradient_x_input", "simple_taylor",
           "save", "load", "ModelFileError", "__version__"]
