"""What the ``explain``, ``evaluate``, ``compare``, ``render`` and ``demo`` commands share.

Inputs (``INPUT...``)
---------------------
- ``.npy``: one array, read with ``allow_pickle=False`` (a file of Python objects
  is refused, never unpickled). A batch ``(N, C, H, W)`` or, when the array has
  one axis less than the model takes, one sample ``(C, H, W)``; a 3-D array whose
  first axis is not the model's channel count is refused with the fix (an
  ``(N, H, W)`` stack of gray images is ``x[:, None]``).

  - floating arrays are used as they are (``--scale``, ``--mean``, ``--std`` do
    not apply; a warning says so if given); float16 is computed in float32 (an
    exact conversion) with a warning;
  - integer (and boolean) arrays need ``--scale``: dtd does not guess their
    scale (as the API, which refuses integer arrays), so ``--scale 1/255`` reads
    8-bit pixels as 0..1 and ``--scale 1`` keeps the values; then
    ``x = (a * scale - mean) / std`` (mean and std per channel, axis -3), and a
    uint8 array's box is that of the 8-bit range, as for images.
- ``.npz``: the array named by ``--npz-key``, else the only array, else the one named ``x``.
- anything else: an image read by Pillow (PNG, JPEG, ...), preprocessed as

  1. converted to gray (``L``) or RGB: ``--grayscale`` / ``--rgb``, or by default
     what the model's first layer takes (a Conv2d with 1 input channel, or a Dense
     layer with H*W inputs: gray; otherwise RGB);
  2. resized to ``--size H W`` (or ``--size S`` for S x S) with Pillow's bilinear
     filter, if given;
  3. ``x = (p * scale - mean) / std`` per channel, with p the 8-bit values 0..255,
     ``--scale`` (default 1/255; a fraction such as ``1/255`` is accepted), ``--mean``
     and ``--std`` (one value, or one per channel; defaults 0 and 1), giving an
     array (C, H, W) in float64.

  The box of the z^B rule then defaults to the range of that mapping,
  ``low = (0 - mean) / std``, ``high = (255 * scale - mean) / std`` per channel.

A model whose first layer is Dense gets each sample flattened; relevance and
pixel-flipping regions stay in the image's shape.
"""
import argparse
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._files import numpy_error
from .argtypes import fraction, integer, number

__all__ = ["load_model", "load_inputs", "Input", "ImageModel", "Outputs", "add_input_arguments",
           "add_method_arguments", "add_selectivity_arguments", "rule_param", "stack_inputs",
           "method_options", "make_method", "flipping_options", "continuity_options", "read_image",
           "image_box", "dataset_inputs", "dataset_or_inputs"]


# ---------------------------------------------------------------- model

def load_model(path):
    """The network in ``path``: :func:`dtd.io.load_any` (by content) when it exists, else :func:`dtd.load`."""
    from .. import io

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cannot read model {path}: no such file")
    loader = getattr(io, "load_any", None) or io.load
    return loader(path)


def model_input(net):
    """``(ndim, size)`` the first layer takes: ndim with the batch axis (4 for Conv2d, 2 for Dense)
    and its input channels or features; ``(None, None)`` if unknown."""
    from ..layers import Conv2d, Dense

    for layer in getattr(net, "layers", []):
        ndim = getattr(layer, "input_ndim", None)
        if ndim is None:
            continue
        if isinstance(layer, (Conv2d, Dense)):
            return ndim, int(layer.weight.shape[1])
        return ndim, None
    return None, None


class ImageModel:
    """A model that takes flat samples (N, D), seen as taking images (N, C, H, W).

    ``forward``, ``gradient`` and ``explain`` reshape on the way in and out, so
    relevance and pixel-flipping regions keep the image's shape.
    """

    def __init__(self, net, sample_shape):
        self.net, self.sample_shape = net, tuple(sample_shape)
        self.layers = getattr(net, "layers", [])

    def _in(self, x):
        return x.reshape((len(x),) + self.sample_shape)

    def forward(self, x, return_all=False):
        return self.net.forward(self._in(x), return_all=return_all)

    __call__ = forward

    def gradient(self, x, target=None):
        g, t = self.net.gradient(self._in(x), target)
        return g.reshape(x.shape), t

    def explain(self, x, rules, target=None):
        return self.net.explain(self._in(x), rules, target=target).reshape(x.shape)


# ---------------------------------------------------------------- inputs

@dataclass
class Input:
    """One input file: ``x`` a batch (n, ...) in image layout, ``single`` if the file held one sample."""

    path: Path
    x: np.ndarray
    single: bool
    box: tuple = None

    @property
    def names(self):
        """Output stems, one per sample."""
        stem = self.path.stem
        return [stem] if self.single else [f"{stem}_{i}" for i in range(len(self.x))]


_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", (b"PK\x03\x04", b"PK\x05\x06")


def check_numpy_file(path, what="input"):
    """Refuse, naming ``path`` and the fix, a file that is not a ``.npy`` or ``.npz`` NumPy file
    (empty, text, an image renamed), before NumPy reads it (whose messages neither name the file nor
    avoid advising ``allow_pickle``)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ValueError(f"cannot read {what} {path}: {e.strerror or e}") from None
    if not head:
        raise ValueError(f"{what} {path} is an empty file (0 bytes); write it again with numpy.save")
    if head[:6] != _NPY_MAGIC and head[:4] not in _ZIP_MAGIC:
        raise ValueError(f"{what} {path} is not a NumPy file: a .npy starts with \\x93NUMPY and a .npz is a zip "
                         f"archive, this one starts with {head!r}; write arrays with numpy.save or numpy.savez")


def _read_array(path, key):
    check_numpy_file(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as e:
        raise ValueError(numpy_error(path, e)) from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            keys = list(data.keys())
            if key is None:
                key = keys[0] if len(keys) == 1 else "x" if "x" in keys else None
            if key not in keys:
                raise ValueError(f"input {path}: give --npz-key, one of: {', '.join(keys) or '(none)'}")
            try:
                a = data[key]
            except (ValueError, EOFError, OSError) as e:
                raise ValueError(numpy_error(f"{path}[{key}]", e)) from None
    else:
        a = data
    if a.dtype.kind not in "biuf":
        raise ValueError(f"input {path}: arrays must be numeric, got dtype {a.dtype}")
    return a


def _array_values(path, a, args):
    """The values dtd computes with, from an array input (see the module docstring); and its box or None."""
    given = [f for f in ("scale", "mean", "std") if getattr(args, f) not in (None, [])]
    if a.dtype.kind == "f":
        if given:
            warnings.warn(f"input {path} is floating point ({a.dtype}) and used as it is: "
                          f"--{', --'.join(given)} only apply to images and integer arrays")
        if a.dtype == np.float16:
            warnings.warn(f"input {path} is float16: computing in float32 (an exact conversion; half precision "
                          "would lose about 3 digits)")
            a = a.astype(np.float32)
        return a, None
    if args.scale is None:
        raise ValueError(f"input {path} holds {a.dtype} values; dtd computes in floating point and does not guess "
                         "their scale: give --scale 1/255 for 8-bit pixels meant as 0..1, or --scale 1 to use the "
                         "values as they are")
    C = a.shape[-3] if a.ndim >= 3 else 1
    where = f"input {path}"
    mean, std = _per_channel(args.mean, C, "mean", where), _per_channel(args.std, C, "std", where)
    if a.ndim < 3:
        mean, std = mean.reshape(-1), std.reshape(-1)
    x = (a.astype(np.float64) * args.scale - mean) / std
    box = image_box(C, args.scale, args.mean, args.std) if a.dtype == np.uint8 and a.ndim >= 3 else None
    return x, box


def _channels_for(net, hw, args):
    if args.grayscale:
        return 1
    if args.rgb:
        return 3
    ndim, size = model_input(net)
    if ndim == 4 and size in (1, 3):
        return size
    if ndim == 2 and size == hw[0] * hw[1]:
        return 1
    return 3


def _per_channel(values, C, flag, where="the images"):
    v = np.asarray(values if values else [0.0 if flag == "mean" else 1.0], dtype=np.float64)
    if len(v) not in (1, C):
        if where.startswith("input "):          # an integer array: channels on axis -3
            raise ValueError(f"--{flag} gives {len(v)} values, but {where} has {C} channel(s) (axis -3 of a "
                             f"(..., C, H, W) array; none for fewer axes): give 1" + ("" if C == 1 else f" or {C}"))
        if C == 1:
            raise ValueError(f"--{flag} gives {len(v)} values, but {where} has 1 channel (gray: read as the "
                             "model's first layer takes it, or with --grayscale); give one value, or read it "
                             "with --rgb")
        raise ValueError(f"--{flag} gives {len(v)} values, but {where} has {C} channels: give 1 or {C}")
    if flag == "std" and not (v > 0).all():
        raise ValueError(f"--std must be > 0, got {list(values)}")
    return np.broadcast_to(v, (C,))[:, None, None]


_GRAY_MODES = ("1", "L", "I", "I;16", "F")


def read_image(path, channels=None, size=None, scale=1 / 255, mean=(), std=()):
    """One image, preprocessed as in the module docstring: ndarray (C, H, W), float64.

    ``channels`` 1 or 3 (None: gray images stay gray, others become RGB); ``size``
    (H, W) or None. A module-level function, so that ``--dataset`` workers can
    use it (``.npy`` files there are returned as they are, one sample each).
    """
    from PIL import Image, UnidentifiedImageError

    if str(path).lower().endswith(".npy"):
        check_numpy_file(path)
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, EOFError, OSError) as e:
            raise ValueError(numpy_error(path, e)) from None
    try:
        with Image.open(path) as im:
            im.load()
            C = channels or (1 if im.mode in _GRAY_MODES else 3)
            im = im.convert("L" if C == 1 else "RGB")
            if size:
                im = im.resize((size[1], size[0]), Image.BILINEAR)
            p = np.asarray(im, dtype=np.float64)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from None
    p = p[None] if p.ndim == 2 else np.moveaxis(p, -1, 0)
    where = f"image {path}"
    return (p * scale - _per_channel(mean, C, "mean", where)) / _per_channel(std, C, "std", where)


def image_box(C, scale=1 / 255, mean=(), std=()):
    """The range of :func:`read_image`'s values: ``((0 - mean) / std, (255 scale - mean) / std)``,
    as floats if equal on every channel, else as arrays (C, 1, 1)."""
    mean, std = _per_channel(mean, C, "mean"), _per_channel(std, C, "std")
    low, high = (0.0 - mean) / std, (255.0 * scale - mean) / std
    if np.ptp(low) == 0 and np.ptp(high) == 0:
        return float(low.flat[0]), float(high.flat[0])
    return low, high


def _image_scale(args):
    """``--scale`` for images: the given value, else 1/255."""
    return 1 / 255 if args.scale is None else args.scale


def _preprocessing(args):
    return dict(size=tuple(args.size) if args.size else None, scale=_image_scale(args),
                mean=tuple(args.mean or ()), std=tuple(args.std or ()))


def _read_image(path, net, args):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:                # the header only: the size, for the channel choice
            w, h = im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from None
    C = _channels_for(net, tuple(args.size) if args.size else (h, w), args)
    x = read_image(path, C, **_preprocessing(args))
    return x, image_box(C, _image_scale(args), args.mean, args.std)


def _is_single(a, net):
    """Does the array hold one sample (no batch axis)? Decided by what the model's first layer takes."""
    ndim, size = model_input(net)
    if ndim == 2 and size is not None:              # Dense: by the number of features
        if a.ndim == 2:                             # (N, D) batch, or one (H, W) image with H * W = D
            return a.shape[1] != size and a.size == size
        return a.ndim in (1, 3) and a.size == size  # (D,) or one (C, H, W) image
    return ndim is not None and a.ndim == ndim - 1


def _check_stack(path, a, single, net):
    """Refuse a 3-D array read as one sample whose first axis is not the model's channel count."""
    ndim, C = model_input(net)
    if single and ndim == 4 and a.ndim == 3 and C is not None and a.shape[0] != C:
        fix = (f"if it holds {a.shape[0]} gray images, save it as (N, 1, H, W): numpy.save(path, x[:, None])"
               if C == 1 else f"save a batch as (N, {C}, H, W), one sample as ({C}, H, W)")
        raise ValueError(f"input {path} has shape {a.shape}, read as one sample (C, H, W) with {a.shape[0]} "
                         f"channels, but the model takes {C}; {fix}")


def load_inputs(paths, net, args):
    """Read every ``INPUT`` (see the module docstring) as a list of :class:`Input`."""
    out = []
    for p in map(Path, paths):
        if not p.is_file():
            raise FileNotFoundError(f"cannot read input {p}: no such file")
        if p.suffix.lower() in (".npy", ".npz"):
            a, box = _array_values(p, _read_array(p, args.npz_key), args)
            single = _is_single(a, net)
            _check_stack(p, a, single, net)
            x = a[None] if single else a
        else:
            x, box = _read_image(p, net, args)
            x, single = x[None], True
        if x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(f"input {p} holds no samples: expected a batch (N, ...) with N >= 1 or one "
                             f"sample, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"input {p} contains NaN or Inf")
        out.append(Input(p, x, single, box))
    return out


def fit_model(net, x, where):
    """``net`` itself, or an :class:`ImageModel` if it takes flat samples and ``x`` is image-shaped;
    checked by one forward pass so a misfit fails here, naming the input."""
    ndim, size = model_input(net)
    model = net
    if ndim == 2 and x.ndim > 2 and size == int(np.prod(x.shape[1:])):
        model = ImageModel(net, (size,))
    try:
        model.forward(x[:1])
    except (ValueError, TypeError) as e:
        raise ValueError(f"{where} (one sample of shape {x.shape[1:]}) does not fit the model: {e}") from None
    return model


def stack_inputs(inputs):
    """All inputs as one batch; the per-sample names; the shared box (or None)."""
    shapes = {i.x.shape[1:] for i in inputs}
    if len(shapes) > 1:
        raise ValueError("inputs have different shapes "
                         f"({', '.join(f'{i.path.name}: {i.x.shape[1:]}' for i in inputs)}); use --size")
    dtypes = {i.x.dtype for i in inputs}
    x = np.concatenate([i.x.astype(np.result_type(*dtypes)) for i in inputs])
    names = [n for i in inputs for n in i.names]
    boxes = [i.box for i in inputs]
    box = boxes[0] if all(_same_box(b, boxes[0]) for b in boxes) else None
    return x, names, box


def _same_box(a, b):
    if a is None or b is None:
        return a is b
    return all(np.array_equal(u, v) for u, v in zip(a, b))


def _check_dataset_dtype(path):
    """A ``.npy`` data set is read memory-mapped as it is: integers are refused with the conversion to make."""
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError):
        return                                      # dtd.batch.inputs names the problem
    if isinstance(a, np.ndarray) and a.dtype.kind in "biu":
        raise ValueError(f"--dataset {path} holds {a.dtype} values; a data set is read memory-mapped as it is "
                         "and dtd does not guess the scale: convert it once, e.g. numpy.save('x.npy', "
                         "numpy.load('" + str(path) + "') / 255.0) for 8-bit pixels meant as 0..1")


def dataset_inputs(args, net):
    """For ``--dataset``: ``(reader, box, sample_shape)``.

    A folder or glob of files is read with :func:`read_image` and this command's
    preprocessing flags (the channel count from the model's first Conv2d, or the
    flags); the box is then that of the preprocessing if the files are images. A
    ``.npy`` data set is used as it is (no box unless ``--box``).
    """
    import functools
    import os

    from ..batch.inputs import open_inputs

    reader, box = None, None
    if os.path.isfile(args.dataset):
        check_numpy_file(args.dataset, "--dataset")
        _check_dataset_dtype(args.dataset)
    else:
        ndim, size = model_input(net)
        C = 1 if args.grayscale else 3 if args.rgb else (size if ndim == 4 and size in (1, 3) else None)
        reader = functools.partial(read_image, channels=C, **_preprocessing(args))
    src = open_inputs(args.dataset, reader=reader)
    shape = tuple(src.sample_shape)
    files = getattr(src, "files", [])
    if reader is not None and files and not files[0].lower().endswith(".npy") and len(shape) == 3:
        box = image_box(shape[0], _image_scale(args), args.mean, args.std)
    return reader, box, shape


def dataset_or_inputs(args):
    """Usage check: ``INPUT...`` or ``--dataset``, not both and not neither (exit 2)."""
    from ..batch import cli as batch_cli
    wants = batch_cli.wants_dataset(args)
    if wants and args.inputs:
        args._parser.error("give INPUT... or --dataset PATH, not both")
    if not wants and not args.inputs:
        alternative = " (or --dataset PATH)" if hasattr(args, "dataset") else ""
        args._parser.error(f"give at least one INPUT{alternative}")
    return wants


# ---------------------------------------------------------------- outputs

class Outputs:
    """The output folder; refuses any name that is an input file, writes atomically."""

    def __init__(self, folder, protected):
        self.folder = Path(folder)
        self.protected = {Path(p).resolve() for p in protected}
        self.written = []

    def check(self, names):
        """Check all output names before anything is computed or written."""
        if self.folder.exists() and not self.folder.is_dir():
            raise FileExistsError(f"--out {self.folder} is a file, not a folder")
        seen = set()
        for n in names:
            p = (self.folder / n).resolve()
            if p in self.protected:
                raise FileExistsError(f"refusing to overwrite the input file {self.folder / n}; "
                                      "choose another --out")
            if p in seen:
                raise ValueError(f"two outputs would be named {self.folder / n}; rename an input")
            seen.add(p)

    def _path(self, name):
        self.check([name])
        self.folder.mkdir(parents=True, exist_ok=True)
        p = self.folder / name
        self.written.append(p)
        return p

    def png(self, name, image):
        from ..render import save_png
        return save_png(image, self._path(name))

    def npy(self, name, array):
        from ..evaluate.files import save_npy
        return save_npy(self._path(name), array)

    def text(self, name, text):
        from ..evaluate.files import write_text
        return write_text(self._path(name), text)


# ---------------------------------------------------------------- arguments

def rule_param(text):
    """``k=v`` -> ``(k, v)``; v parsed as JSON (numbers, lists, true/false), else kept as a string.

    The value is then checked against the composite's own parameters by :func:`dtd.composites.parse_params`
    (unknown names listed with those the composite takes; ``inf`` and ``1e-3`` read as numbers where a
    number is expected; a bad value named).
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        v = json.loads(value)
    except ValueError:
        v = value.strip()
    return key, v


class _Size(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        if len(values) not in (1, 2) or min(values) < 1:
            parser.error(f"{option_string} takes one or two positive ints (H W), got {values}")
        setattr(namespace, self.dest, values * 2 if len(values) == 1 else values)


def add_input_arguments(p, out_default, dataset=False):
    """MODEL, INPUT..., --target, --out and the image preprocessing flags (and ``--dataset`` ... if asked)."""
    p.set_defaults(_parser=p)
    p.add_argument("model", metavar="MODEL", help="model file: dtd .npz, ONNX or LRP Toolbox text "
                   "(recognised by content, with dtd.io.load_any)")
    p.add_argument("inputs", metavar="INPUT", nargs="*", help="images (PNG, JPEG, ...) or .npy/.npz arrays")
    p.add_argument("--target", type=integer(0), default=None, metavar="C",
                   help="explain output C (default: each input's largest output)")
    p.add_argument("--out", default=out_default, metavar="DIR", help=f"output folder (default: {out_default})")
    g = p.add_argument_group("image preprocessing", "x = (p * scale - mean) / std per channel, p in 0..255")
    mode = g.add_mutually_exclusive_group()
    mode.add_argument("--grayscale", action="store_true", help="read images as gray (1 channel)")
    mode.add_argument("--rgb", action="store_true", help="read images as RGB (3 channels)")
    g.add_argument("--size", type=int, nargs="+", action=_Size, metavar="N",
                   help="resize to H W (or S: S x S) with a bilinear filter")
    g.add_argument("--scale", type=fraction, default=None, metavar="S",
                   help="factor on p, a number or a fraction such as 1/255 (images: default 1/255; "
                   "integer arrays: required, e.g. --scale 1/255 for 8-bit pixels)")
    g.add_argument("--mean", type=number(), nargs="+", default=None, help="per channel (default 0)")
    g.add_argument("--std", type=number(), nargs="+", default=None, help="per channel (default 1)")
    g.add_argument("--npz-key", default=None, metavar="NAME", help="the array to read from .npz inputs")
    if dataset:
        from ..batch import cli as batch_cli
        batch_cli.add_dataset_arguments(p)


def add_method_arguments(p, single=True):
    """--rules/--methods, --rule-param, --box."""
    from ..evaluate.methods import names
    if single:
        p.add_argument("--rules", default="dtd", choices=names(), metavar="NAME",
                       help="composite or method (default: dtd): " + ", ".join(names()))
        p.add_argument("--rule-param", type=rule_param, action="append", default=[], metavar="K=V",
                       help="parameter of the composite, e.g. epsilon=0.25 (repeatable)")
    p.add_argument("--box", type=number(), nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="input bounds for z^B (default: the image range after preprocessing; none for arrays)")


def add_selectivity_arguments(p):
    """Pixel flipping and continuity options."""
    from ..evaluate.selectivity import REPLACEMENTS
    g = p.add_argument_group("pixel flipping")
    g.add_argument("--region", type=integer(1), default=1, metavar="K", help="K x K regions (default 1)")
    g.add_argument("--per-step", type=integer(1), default=None, metavar="N",
                   help="regions removed per step (default: ceil(regions / 100), so at most 100 steps)")
    g.add_argument("--steps", type=integer(1), default=None, metavar="S",
                   help="number of steps (default: until every region is removed)")
    g.add_argument("--replacement", choices=REPLACEMENTS, default="constant",
                   help="what removed regions become (default: constant)")
    g.add_argument("--value", type=number(), default=0.0, help="for --replacement constant (default 0)")
    g.add_argument("--noise-range", type=number(), nargs=2, default=(0.0, 1.0), metavar=("LOW", "HIGH"),
                   help="for --replacement uniform (default 0 1)")
    g.add_argument("--blur-sigma", type=number(0, strict=True), default=1.0, help="for --replacement blur, in pixels")
    g.add_argument("--seed", type=integer(0), default=0, help="random order and noise (default 0)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    c = p.add_argument_group("continuity")
    c.add_argument("--noise", type=number(), default=0.01, help="std of the noise perturbations (default 0.01)")
    c.add_argument("--n-noise", type=integer(0), default=4, help="noise perturbations per input (default 4)")


def method_options(args, box):
    """``(params, box)`` for :func:`dtd.evaluate.methods.method` from --rule-param and --box."""
    params = dict(args.rule_param)
    name = getattr(args, "rules", None)
    if params and isinstance(name, str):
        from .. import composites
        from ..evaluate.methods import GRADIENT_METHODS
        if name in GRADIENT_METHODS:
            raise ValueError(f"method {name!r} takes no parameters, got {', '.join(params)}")
        params = composites.parse_params(name, params)    # early: before a data-set run starts its workers
    if args.box is not None:
        if args.box[0] > args.box[1]:
            raise ValueError(f"--box: LOW must be <= HIGH, got {args.box[0]} {args.box[1]}")
        box = tuple(args.box)
    if "low" in params or "high" in params:
        box = None                                   # given as rule parameters
    return params, box


def make_method(model, name, box, params):
    """:func:`dtd.evaluate.methods.method`, with a hint when a z^B composite lacks its box."""
    from ..evaluate.methods import BOX_METHODS, method
    try:
        return method(model, name, box=box, **params)
    except ValueError as e:
        if name in BOX_METHODS and box is None and "low" in str(e):
            raise ValueError(f"{e}; give the input bounds with --box LOW HIGH") from None
        raise


def flipping_options(args, shape):
    """Keyword arguments of :func:`dtd.evaluate.pixel_flipping` from the command line (``shape``: one sample's)."""
    H, W = (shape[-2:] if len(shape) >= 2 else (1, shape[-1]))
    n_regions = -(-H // args.region) * -(-W // args.region)
    per_step = args.per_step or max(1, -(-n_regions // 100))
    steps = args.steps
    if steps is not None and steps > -(-n_regions // per_step):
        raise ValueError(f"--steps {steps} is more than the {-(-n_regions // per_step)} steps "
                         f"that remove all {n_regions} regions ({per_step} per step)")
    return dict(region=args.region, per_step=per_step, steps=steps, replacement=args.replacement,
                value=args.value, noise_range=tuple(args.noise_range), blur_sigma=args.blur_sigma, seed=args.seed)


def continuity_options(args):
    return dict(noise=args.noise, n_noise=args.n_noise, seed=args.seed)
