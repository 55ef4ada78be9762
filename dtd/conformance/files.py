"""The golden files: one ``.npz`` per case and a JSON index.

Layout of a case file (``<network>--<rules>.npz``, read with ``allow_pickle=False``):

==========================  ==========================================================
``__architecture__``        the network, as in the native model format (:mod:`dtd.io.native`);
``<layer>.<name>``          its parameters (``dtd.load(case_file)`` loads the network)
``__case__``                JSON: case name, catalogue version, one rule per layer
                            (:func:`~dtd.conformance.specs.rule_spec`), the composite it came from
``input``                   the input batch, shape (N, ...)
``target``                  int64 (N,): the output neuron explained for each sample
``output``                  the network's output, shape (N, K)
``start_relevance``         ``f_c(x)`` at the target c, 0 elsewhere, shape (N, K)
``relevance.<k>``           relevance at the input of layer k (k = 0 is the input relevance)
==========================  ==========================================================

Everything is float64.  ``index.json`` lists the cases with their conventions.
"""
import json
import os
import zipfile

import numpy as np

from ..io.native import architecture
from ..io import load as load_model
from .catalogue import CATALOGUE_VERSION, cases
from .specs import conventions, rule_from_spec, rule_spec

__all__ = ["FORMAT", "GLOBAL_CONVENTIONS", "ConformanceFileError", "file_name", "compute", "export",
           "read_index", "read_case", "read_arrays"]

FORMAT = "dtd-conformance"
INDEX = "index.json"
_CASE = "__case__"

#: conventions every case follows (the index repeats them)
GLOBAL_CONVENTIONS = {
    "dtype": "float64",
    "layout": "batch first; images NCHW; Dense weight (out, in); Conv2d weight (C_out, C_in, kH, kW)",
    "start_relevance": "f_c(x) at the target neuron c given in the file, 0 elsewhere (not the one-hot vector)",
    "stabiliser": "epsilon * sign(z) added to each denominator, with sign(0) = +1; epsilon per layer below",
    "zero_division": "0/0 := 0: without a stabiliser, a message whose denominator is exactly zero is zero",
    "relu_flatten": "relevance passes unchanged (not multiplied by the ReLU's derivative)",
    "keys": "relevance.k = relevance at the input of layer k; start_relevance = at the output",
}


class ConformanceFileError(ValueError):
    """A golden or backend file that is missing, malformed or does not fit its case."""


def file_name(case_name):
    """File of a case: ``"dense/lrp-0"`` -> ``"dense--lrp-0.npz"``."""
    return case_name.replace("/", "--") + ".npz"


def compute(net, x, rules, target):
    """The expected arrays of a case: ``output``, ``start_relevance`` and ``relevance.<k>``.

    Some cases are made to absorb all relevance (zero inputs, large stabilisers): their
    :class:`dtd.RelevanceWarning` says nothing a golden file needs, and is not shown.
    """
    import warnings
    from .._validation import RelevanceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RelevanceWarning)
        Rs = net.explain(x, rules, target=target, return_all=True)
    arrays = {"output": net.forward(x), "start_relevance": Rs[-1]}
    arrays.update({f"relevance.{k}": R for k, R in enumerate(Rs[:-1])})
    return arrays


def _case_entry(case):
    layers = []
    for layer, rule in zip(case.network.net.layers, case.rules):
        layers.append({"type": type(layer).__name__, "rule": rule_spec(rule), **conventions(rule)})
    return {"name": case.name, "file": file_name(case.name), "network": case.network.about,
            "tags": case.tags, "composite": case.composite, "batch": int(case.network.x.shape[0]),
            "target": case.network.target.tolist(), "start_relevance": "f_c(x) at the target, 0 elsewhere",
            "layers": layers}


def export(directory, selected=None):
    """Write the catalogue's golden files and ``index.json`` into ``directory`` (created if missing).

    Parameters
    ----------
    directory : str or path
    selected : list of str, optional
        Case names to write (default: all).

    Returns
    -------
    list of str
        The files written (case files, then the index).
    """
    os.makedirs(directory, exist_ok=True)
    written, entries = [], []
    for case in cases():
        if selected is not None and case.name not in selected:
            continue
        nw = case.network
        arrays = {}
        arch = architecture(nw.net, arrays)
        meta = {"format": FORMAT, "catalogue_version": CATALOGUE_VERSION, "name": case.name,
                "rules": [rule_spec(r) for r in case.rules], "composite": case.composite}
        arrays.update({"__architecture__": np.array(json.dumps(arch)), _CASE: np.array(json.dumps(meta)),
                       "input": nw.x, "target": nw.target.astype(np.int64)})
        arrays.update(compute(nw.net, nw.x, case.rules, nw.target))
        path = os.path.join(directory, file_name(case.name))
        np.savez_compressed(path, **arrays)
        written.append(path)
        entries.append(_case_entry(case))
    index = {"format": FORMAT, "catalogue_version": CATALOGUE_VERSION, "conventions": GLOBAL_CONVENTIONS,
             "cases": entries}
    path = os.path.join(directory, INDEX)
    with open(path, "w", encoding="utf-8") as f:
        f.write(_index_text(index))
    written.append(path)
    return written


def _index_text(index):
    """The index as JSON, one line per case and per layer (readable, and small)."""
    head = json.dumps({k: v for k, v in index.items() if k != "cases"}, indent=1)
    cases_text = []
    for entry in index["cases"]:
        layers = ",\n   ".join(json.dumps(layer) for layer in entry["layers"])
        rest = json.dumps({k: v for k, v in entry.items() if k != "layers"})
        cases_text.append(f'  {rest[:-1]}, "layers": [\n   {layers}]}}')
    return head[:-2] + ',\n "cases": [\n' + ",\n".join(cases_text) + "\n ]\n}\n"


def read_index(directory):
    """The parsed ``index.json`` of a golden directory.

    Raises
    ------
    ConformanceFileError
        Missing or malformed index.
    """
    path = os.path.join(directory, INDEX)
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
    except FileNotFoundError:
        raise ConformanceFileError(f"{path}: no such file (is {directory} a golden directory?)") from None
    except (OSError, ValueError) as e:
        raise ConformanceFileError(f"{path}: unreadable index ({e})") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT or not isinstance(index.get("cases"), list):
        raise ConformanceFileError(f"{path}: not a {FORMAT} index")
    for entry in index["cases"]:
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("file"), str)
                and os.path.basename(entry["file"]) == entry["file"]):
            raise ConformanceFileError(f"{path}: malformed case entry {entry!r}")
    return index


def read_arrays(path):
    """All arrays of an ``.npz`` (no pickle), as a dict.

    Raises
    ------
    ConformanceFileError
        Missing, not an npz, or holding object arrays.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ConformanceFileError(f"{path}: not an .npz archive")
            return {k: archive[k] for k in archive.files}
    except FileNotFoundError:
        raise ConformanceFileError(f"{path}: no such file") from None
    except AttributeError:   # np.load gave a plain array (an .npy file)
        raise ConformanceFileError(f"{path}: not an .npz archive") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ConformanceFileError(f"{path}: unreadable ({e})") from None


def read_case(path):
    """A golden case file: ``(net, x, rules, target, expected arrays, case JSON)``.

    Raises
    ------
    ConformanceFileError
        Malformed file: missing arrays, bad JSON, unknown rules, or rules that do not fit the network.
    """
    arrays = read_arrays(path)
    for key in (_CASE, "input", "target", "output", "start_relevance", "relevance.0"):
        if key not in arrays:
            raise ConformanceFileError(f"{path}: no {key!r} array (not a golden case file)")
    try:
        meta = json.loads(str(arrays[_CASE][()]))
        rules = [rule_from_spec(s) for s in meta["rules"]]
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise ConformanceFileError(f"{path}: malformed {_CASE!r} ({e})") from None
    net = load_model(path)
    if len(rules) != len(net.layers):
        raise ConformanceFileError(f"{path}: {len(rules)} rules for {len(net.layers)} layers")
    target = arrays["target"]
    if not np.issubdtype(target.dtype, np.integer):
        raise ConformanceFileError(f"{path}: 'target' must be integer, got {target.dtype}")
    expected = {k: v for k, v in arrays.items() if k in ("output", "start_relevance") or k.startswith("relevance.")}
    return net, arrays["input"], rules, target, expected, meta
