"""The one exception for unusable model files."""

__all__ = ["ModelFileError"]


class ModelFileError(ValueError):
    """A model file is not usable (truncated, wrong format, arrays that do not fit, unknown layer, ...).

    The message names the file and the cause.
    """
