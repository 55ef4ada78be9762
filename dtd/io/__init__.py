"""Model files: the native ``.npz`` format (and, with extras, ONNX and the LRP Toolbox text format)."""
from .errors import ModelFileError
from .native import load, save

__all__ = ["ModelFileError", "save", "load"]
