"""What a worker does with one chunk, and how the model reaches it.

A *job* (:class:`ExplainJob`, :class:`EvaluateJob`) is a small picklable object:
``job(model, x, start, stop, target) -> array`` computes the results of the
inputs ``x`` = samples ``start..stop-1`` (sample axis first).  :func:`run_chunk`
is the function the executors call: it reads the chunk's inputs from their
payload (:func:`dtd.batch.inputs.read_payload`), gets the model, runs the job.

The model reaches a worker process once:

- a :class:`ModelRef` (a path and a loader) is loaded by the worker the first
  time it needs it and kept in a per-process cache (the local process pool
  loads it in each worker's initializer);
- with Dask, a model object is broadcast to the workers once with
  ``client.scatter(model, broadcast=True)`` and the tasks receive the workers'
  copy.
"""
import hashlib
import json
import os
import threading

import numpy as np

from .inputs import read_payload

__all__ = ["ModelRef", "ExplainJob", "EvaluateJob", "run_chunk", "init_worker", "default_loader",
           "model_fingerprint", "EVALUATE_FIELDS"]


def default_loader(path):
    """``dtd.io.load_any`` (native, ONNX or LRP Toolbox files, by content) if present, else :func:`dtd.load`."""
    from .. import io

    load = getattr(io, "load_any", None) or io.load
    return load(path)


def _file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_fingerprint(model):
    """SHA-256 of a model: of its file for a path, of its architecture and arrays for a dtd network."""
    if isinstance(model, (str, os.PathLike)):
        return _file_sha256(model)
    from ..io.native import architecture

    arrays = {}
    arch = architecture(model, arrays)
    h = hashlib.sha256(json.dumps(arch, sort_keys=True).encode("utf-8"))
    for k in sorted(arrays):
        a = arrays[k]
        h.update(f"{k}:{a.dtype.str}:{a.shape}".encode("utf-8"))
        h.update(a.tobytes())
    return h.hexdigest()


class ModelRef:
    """A model file and the function that loads it, sent to the workers instead of the model.

    Parameters
    ----------
    path : str
        Absolute path (on a cluster: visible to every worker).
    loader : callable, optional
        ``loader(path) -> model``; a module-level function (pickled by name).
        Default :func:`default_loader`.
    fingerprint : str
        SHA-256 of the file; the cache key, so a changed file is loaded again.
    """

    def __init__(self, path, loader=None, fingerprint=None):
        self.path = os.path.abspath(os.fspath(path))
        self.loader = loader
        self.fingerprint = fingerprint or _file_sha256(self.path)

    def key(self):
        return (self.path, self.fingerprint, getattr(self.loader, "__qualname__", repr(self.loader)))

    def load(self):
        return (self.loader or default_loader)(self.path)


_CACHE = {}
_CACHE_LOCK = threading.Lock()


def get_model(model):
    """The model object: ``model`` itself, or a :class:`ModelRef` loaded once per process (cached)."""
    if not isinstance(model, ModelRef):
        return model
    key = model.key()
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE.clear()  # one model per worker process at a time
            _CACHE[key] = model.load()
        return _CACHE[key]


def init_worker(model, blas_threads=1):
    """Initializer of the local process pool's workers: limit BLAS threads, load the model once."""
    if blas_threads:
        try:
            from threadpoolctl import threadpool_limits
            threadpool_limits(blas_threads)
        except ImportError:  # optional: without it, BLAS may use every core in every worker
            pass
    get_model(model)


def run_chunk(job, model, payload, start, stop, target):
    """Compute one chunk on a worker: read its inputs, get the model, run the job."""
    x = read_payload(payload)
    return job(get_model(model), x, start, stop, target)


def _box_value(v):
    a = np.asarray(v, dtype=np.float64)
    return float(a) if a.ndim == 0 else a


def _box(box):
    """``(low, high)`` as floats or float arrays (per channel), and its JSON form."""
    if box is None:
        return None, None
    low, high = _box_value(box[0]), _box_value(box[1])
    return (low, high), [np.asarray(low).tolist(), np.asarray(high).tolist()]


class ExplainJob:
    """Relevance of each input.

    ``rules`` is a method name (:func:`dtd.evaluate.methods.names`: the
    composites, with ``rule_params`` and the input ``box``, and the gradient
    methods), run as :func:`dtd.evaluate.methods.method` does; or anything
    :meth:`dtd.Sequential.explain` takes (rules, a list, a composite object).
    The result has the shape and dtype of the inputs.
    """

    kind = "explain"

    def __init__(self, rules, rule_params=None, box=None):
        self.rules = rules
        self.rule_params = dict(rule_params or {})
        self.box, box_spec = _box(box)
        if isinstance(rules, str):
            self._spec = {"method": rules, "params": self.rule_params, "box": box_spec}
        else:
            if self.rule_params or box is not None:
                raise ValueError("rule_params and box are only used with a method given by name")
            self._spec = {"repr": repr(rules)}

    def spec(self):
        return {"rules": self._spec}

    def result(self, sample_shape, dtype):
        """Per-sample shape and dtype of the results."""
        return {"shape": list(sample_shape), "dtype": np.dtype(dtype).str}

    def __call__(self, model, x, start, stop, target):
        if isinstance(self.rules, str):
            from ..evaluate.methods import method
            return np.asarray(method(model, self.rules, box=self.box, **self.rule_params)(x, target))
        return np.asarray(model.explain(x, self.rules, target=target))


#: per-method columns of an evaluation chunk (then, with curves, the curves); see :class:`EvaluateJob`
EVALUATE_FIELDS = ("target", "f_c", "sum_R", "conservation_error", "negative_share", "negative_mass",
                   "continuity", "auc_most", "aopc_most", "auc_least", "aopc_least", "auc_random",
                   "aopc_random")


def _flip_steps(sample_shape, options):
    """Number of pixel-flipping steps S for inputs of ``sample_shape`` (as :func:`dtd.evaluate.pixel_flipping`)."""
    shape = tuple(sample_shape)
    H, W = {1: (1, shape[-1]), 2: shape, 3: shape[1:]}.get(len(shape), (None, None))
    if H is None:
        raise ValueError(f"evaluation needs samples of shape (D,), (H, W) or (C, H, W), got {shape}")
    k = int(options.get("region", 1))
    per_step = int(options.get("per_step") or 1)
    n_regions = -(-H // k) * -(-W // k)
    steps = options.get("steps")
    return -(-n_regions // per_step) if steps is None else int(steps)


class EvaluateJob:
    """The checks of :func:`dtd.evaluate.compare.evaluate_method` for one or more methods.

    Per chunk of n samples and M methods the result is a float64 array
    (n, M, F): the columns :data:`EVALUATE_FIELDS` (target as a float), then,
    if ``curves``, the pixel-flipping curves most / least / random, S + 1 values
    each. The random baseline is computed once per chunk and repeated for
    every method (as :func:`dtd.evaluate.compare`). Random draws use the
    global sample index (``sample_ids = start..stop-1``), so chunking does not
    change them.
    """

    kind = "evaluate"

    def __init__(self, methods, box=None, params=None, continuity_options=None, flipping_options=None,
                 curves=True):
        self.methods = [methods] if isinstance(methods, str) else list(methods)
        if not self.methods or len(set(self.methods)) != len(self.methods):
            raise ValueError(f"methods must be distinct names, got {self.methods}")
        self.box, self._box_spec = _box(box)
        self.params = {k: dict(v) for k, v in (params or {}).items()}
        self.continuity_options = dict(continuity_options or {})
        self.flipping_options = dict(flipping_options or {})
        self.curves = bool(curves)

    def spec(self):
        return {"methods": self.methods, "box": self._box_spec, "params": self.params,
                "continuity_options": self.continuity_options, "flipping_options": self.flipping_options,
                "curves": self.curves}

    def fields(self, sample_shape):
        """Field name -> ``[first, last + 1]`` column of the last axis."""
        out, k = {}, 0
        for name in EVALUATE_FIELDS:
            out[name] = [k, k + 1]
            k += 1
        if self.curves:
            S = _flip_steps(sample_shape, self.flipping_options)
            for order in ("most", "least", "random"):
                out[f"curve_{order}"] = [k, k + S + 1]
                k += S + 1
        return out

    def result(self, sample_shape, dtype):
        F = max(b for _, b in self.fields(sample_shape).values())
        return {"shape": [len(self.methods), F], "dtype": np.dtype(np.float64).str,
                "fields": self.fields(sample_shape)}

    def __call__(self, model, x, start, stop, target):
        from ..evaluate import pixel_flipping
        from ..evaluate._checks import target_output
        from ..evaluate.compare import DEFAULT_PARAMS, evaluate_method

        ids = np.arange(start, stop)
        _, t = target_output(model, x, target)
        rand = pixel_flipping(model, x, np.zeros_like(x), t, order="random", sample_ids=ids, progress=False,
                              **self.flipping_options)
        fields = self.fields(x.shape[1:])
        out = np.empty((len(x), len(self.methods), max(b for _, b in fields.values())))
        for m, name in enumerate(self.methods):
            params = self.params.get(name, DEFAULT_PARAMS.get(name, {}))
            ev = evaluate_method(model, x, name, t, box=self.box, params=params, orders=("most", "least"),
                                 continuity_options=self.continuity_options,
                                 flipping_options=self.flipping_options, sample_ids=ids, progress=False)
            cols = {"target": t, "f_c": ev.conservation.output, "sum_R": ev.conservation.total,
                    "conservation_error": ev.conservation.error, "negative_share": ev.positivity.share,
                    "negative_mass": ev.positivity.negative, "continuity": ev.continuity.value,
                    "auc_random": rand.auc, "aopc_random": rand.aopc}
            curves = {"random": rand}
            for order in ("most", "least"):
                fc = ev.flipping[order]
                cols[f"auc_{order}"], cols[f"aopc_{order}"] = fc.auc, fc.aopc
                curves[order] = fc
            for fname, (a, b) in fields.items():
                if fname.startswith("curve_"):
                    c = curves[fname[len("curve_"):]].curve
                    if c.shape[1] != b - a:
                        raise ValueError(f"pixel flipping gave {c.shape[1]} curve points, expected {b - a}")
                    out[:, m, a:b] = c
                else:
                    out[:, m, a] = cols[fname]
        return out
