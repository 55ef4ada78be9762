"""Load a model file of any format dtd reads, recognised by its content (not its name)."""
import os

from .errors import ModelFileError

__all__ = ["detect_format", "load_any", "FORMATS"]

#: what :func:`detect_format` returns, and what each means
FORMATS = {"npz": "dtd native (.npz)", "onnx": "ONNX", "toolbox": "LRP Toolbox text"}


def detect_format(path):
    """``"npz"``, ``"onnx"`` or ``"toolbox"`` from the first bytes of the file.

    - a zip archive (or a ``.npy``, which the native reader then refuses): ``"npz"``;
    - text whose first word is an LRP Toolbox layer name: ``"toolbox"``;
    - a protobuf message starting with field 1 as a varint (``ir_version``,
      which every ONNX writer puts first): ``"onnx"``.

    Raises
    ------
    ModelFileError
        Missing file, or none of these.
    """
    from .toolbox import looks_like_toolbox

    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read ({e})") from None
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06") or head[:6] == b"\x93NUMPY":
        return "npz"
    if looks_like_toolbox(head):
        return "toolbox"
    if head[:1] == b"\x08":
        return "onnx"
    raise ModelFileError(f"{path}: not a model file dtd reads (a dtd .npz, an ONNX model or an LRP Toolbox "
                         f"text model); it starts with {head[:8]!r}")


def load_any(path, input_shape=None):
    """Load a dtd ``.npz``, an ONNX model or an LRP Toolbox text model, by content.

    Parameters
    ----------
    path : str or path-like
    input_shape : tuple of int, optional
        Passed to :func:`dtd.io.load_onnx` (ignored for the other formats).

    Returns
    -------
    Sequential or Graph
        The network; it has the attribute ``model_format`` (a key of :data:`FORMATS`).
    """
    from .native import load
    from .onnx import load_onnx
    from .toolbox import load_lrp_toolbox

    fmt = detect_format(path)
    if fmt == "npz":
        net = load(path)
    elif fmt == "toolbox":
        net = load_lrp_toolbox(path)
    else:
        net = load_onnx(path, input_shape=input_shape)
    net.model_format = fmt
    return net
