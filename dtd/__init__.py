"""dtd: a NumPy reference implementation of Deep Taylor Decomposition and Layer-wise Relevance Propagation.

>>> import numpy as np, dtd
>>> net = dtd.Sequential([dtd.layers.Dense([[1.0, 2.0]], [0.0]), dtd.layers.ReLU()])
>>> net.explain(np.array([[1.0, 1.0]]), dtd.rules.ZPlus()).tolist()
[[1.0, 2.0]]
"""
from . import composites, evaluate, layers, render, rules
from .explainers import gradient_x_input, sensitivity, simple_taylor
from .graph import Graph
from ._validation import InputWarning, RelevanceWarning
from .io import ModelFileError, save
from .network import Sequential


def load(path, input_shape=None):
    """Load a model file of any format dtd reads, recognised by its content: a dtd ``.npz``
    (:func:`dtd.io.load`), an ONNX model (:func:`dtd.io.load_onnx`, extra ``onnx``) or an LRP
    Toolbox text model (:func:`dtd.io.load_lrp_toolbox`), as :func:`dtd.io.load_any`.

    Parameters
    ----------
    path : str or path-like
    input_shape : tuple of int, optional
        The input's shape with a batch axis, e.g. ``(1, 3, 224, 224)``, for ONNX models with
        symbolic dimensions (:func:`dtd.io.load_onnx`; ignored for the other formats).

    Returns
    -------
    Sequential or Graph

    Raises
    ------
    ModelFileError
        The file is missing or none of these formats (then the native reader's message, naming what the
        file holds), or it cannot be used (the format's reader names the cause).
    """
    from .io import detect_format, load_any
    from .io import load as load_native

    try:
        detect_format(path)
    except ModelFileError:
        return load_native(path)        # its message names the file, what it found and the formats dtd reads
    return load_any(path, input_shape=input_shape)

__version__ = "0.1.0"

__all__ = ["layers", "rules", "composites", "evaluate", "render", "Sequential", "Graph", "sensitivity", "gradient_x_input", "simple_taylor",
           "save", "load", "ModelFileError", "RelevanceWarning", "InputWarning", "__version__"]
