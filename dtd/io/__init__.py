"""Model files: the native ``.npz`` format, ONNX import (extra ``onnx``) and the LRP Toolbox text format.

- :func:`save` / :func:`load`: the native format (exact round trip).
- :func:`load_onnx`: ONNX models (needs ``pip install dtd[onnx]``).
- :func:`load_lrp_toolbox`: the LRP Toolbox's plain-text models.
- :func:`load_any`: any of the three, recognised by the file's content.

Every reader raises :class:`ModelFileError` for a file it cannot use.
"""
from .detect import detect_format, load_any
from .errors import ModelFileError
from .native import load, save
from .onnx import load_onnx
from .toolbox import load_lrp_toolbox

__all__ = ["ModelFileError", "save", "load", "load_onnx", "load_lrp_toolbox", "load_any", "detect_format"]
