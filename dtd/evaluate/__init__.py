"""Checks of an explanation (seed 004): conservation, positivity, continuity, selectivity.

=================  ============================================  ======================
property           function                                      module
=================  ============================================  ======================
conservation       :func:`conservation` (relative error)         ``conservation.py``
  by layer         :func:`conservation_by_layer` (where it is    ``accounting.py``
                   absorbed or created)
root points        :func:`root_points` (z^B roots outside the    ``roots.py``
                   box: where the derivation does not hold)
positivity         :func:`positivity` (negative share and mass)  ``positivity.py``
continuity         :func:`continuity` (max. L1/L2 change ratio)  ``continuity.py``
selectivity        :func:`pixel_flipping`, :func:`selectivity`,  ``selectivity.py``
                   :func:`auc`, :func:`aopc`
all, many methods  :func:`compare`, :func:`evaluate_method`      ``compare.py``
=================  ============================================  ======================

Every function works on a batch and returns one value per sample. Helpers:
:mod:`~dtd.evaluate.methods` (explanation methods by name),
:mod:`~dtd.evaluate.table` (CSV / Markdown), :mod:`~dtd.evaluate.figures`
(curve plots with Pillow), :mod:`~dtd.evaluate.files` (atomic writes).
"""
from . import figures, files, methods, table
from .compare import Comparison, Evaluation, compare, evaluate_method
from .accounting import LayerConservation, conservation_by_layer
from .roots import RootPoints, root_points
from .conservation import Conservation, conservation
from .continuity import Continuity, continuity, translate
from .positivity import Positivity, positivity
from .selectivity import FlipCurve, aopc, auc, pixel_flipping, region_order, region_scores, selectivity

__all__ = ["Conservation", "conservation", "LayerConservation", "conservation_by_layer", "RootPoints", "root_points", "Positivity", "positivity", "Continuity", "continuity",
           "translate", "FlipCurve", "pixel_flipping", "selectivity", "region_scores", "region_order",
           "auc", "aopc", "Evaluation", "evaluate_method", "Comparison", "compare", "methods", "table",
           "figures", "files"]
