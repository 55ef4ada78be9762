"""Relevance rules.  Find a rule by the name it has in the slides:

=================  =========================================
LRP-0, LRP-eps     :class:`Epsilon`       (``rules/epsilon.py``)
LRP-gamma          :class:`Gamma`         (``rules/gamma.py``)
LRP-alpha-beta     :class:`AlphaBeta`     (``rules/alpha_beta.py``)
z+  (DTD)          :class:`ZPlus`         (``rules/zplus.py``)
w^2 (DTD)          :class:`WSquare`       (``rules/wsquare.py``)
z^B (DTD)          :class:`ZBox`          (``rules/zbox.py``)
flat               :class:`Flat`          (``rules/flat.py``)
max pooling        :class:`WinnerTakeAll`, :class:`Proportional` (``rules/pooling.py``)
p-norm pooling     :class:`Proportional`
LRN                :class:`LRNIdentity`, :class:`LRNTaylor` (``rules/lrn.py``)
OC-DTD             :class:`OCSoftMin`, :class:`OCDistance` (``rules/oneclass.py``)
=================  =========================================

The generic four-step routine that runs every linear rule is in ``rules/base.py``.
"""
from .alpha_beta import AlphaBeta
from .base import DTDRule, GradientPass, LinearRule, PassThrough, Rule
from .epsilon import Epsilon
from .flat import Flat
from .gamma import Gamma
from .lrn import LRNIdentity, LRNTaylor
from .oneclass import OCDistance, OCSoftMin
from .pooling import Proportional, WinnerTakeAll
from .wsquare import WSquare
from .zbox import ZBox
from .zplus import ZPlus

__all__ = ["Rule", "LinearRule", "DTDRule", "PassThrough", "Epsilon", "Gamma", "AlphaBeta", "ZPlus",
           "WSquare", "ZBox", "Flat", "WinnerTakeAll", "Proportional", "LRNIdentity", "LRNTaylor"]
# GradientPass (iNNvestigate's separate ReLU layers), OCSoftMin and OCDistance (one-class DTD) are importable
# from here but not in __all__ yet: __all__ is the
# list of rules the golden vectors (dtd.conformance) must cover, and they have no golden case so far.
