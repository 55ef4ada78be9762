"""Conformance: golden vectors for other LRP/DTD backends, and the mappings to Zennit and Captum.

A fixed, versioned catalogue of small networks (Dense, Conv2d, sum / average /
max / p-norm pooling, LRN) with dyadic weights and inputs, crossed with every
rule and composite, computed in float64 (:mod:`~dtd.conformance.catalogue`).
:func:`export` writes one ``.npz`` per case and an ``index.json`` stating each
case's conventions (:mod:`~dtd.conformance.files`); :func:`check` recomputes
the cases, or reads another backend's outputs, and reports the errors
(:mod:`~dtd.conformance.check`).  A set ships in ``data/golden/``.

From the shell::

    python -m dtd conformance export DIR
    python -m dtd conformance check DIR [--backend-output DIR2] [--tol T] [--cases GLOB]

:mod:`~dtd.conformance.peers` gives the dtd rules that reproduce Zennit's and
Captum's (see ``docs/backends.md``).

>>> from dtd.conformance import CATALOGUE_VERSION, case_names
>>> CATALOGUE_VERSION, case_names()[0]
(3, 'dense/dtd')
"""
from .catalogue import CATALOGUE_VERSION, NETWORKS, Case, case_names, cases
from .check import DEFAULT_TOL, CaseResult, check, compare
from .files import ConformanceFileError, export, file_name, read_case, read_index
from .specs import conventions, rule_from_spec, rule_spec

__all__ = ["CATALOGUE_VERSION", "NETWORKS", "Case", "cases", "case_names", "export", "check", "compare",
           "CaseResult", "DEFAULT_TOL", "ConformanceFileError", "file_name", "read_case", "read_index",
           "rule_spec", "rule_from_spec", "conventions"]
