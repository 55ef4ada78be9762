"""One module per ``dtd`` command (see :mod:`dtd.cli`)."""
