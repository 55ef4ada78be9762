"""What the experiments share: command line, MNIST pairs, the shipped models, tables and images."""
import argparse
import csv
import inspect
import json
import time
from pathlib import Path

import numpy as np

__all__ = ["parser", "experiment_main", "stages", "each", "RUN_ARGS", "SEEDS", "mnist_pairs", "evaluation_pairs",
           "to_float", "presence_accuracy", "load_or_train", "write_table", "write_json", "gray", "upscale",
           "blas_limit", "Timer", "EVAL_SEED", "EVAL_N"]

#: the fixed sample on which the shipped models' accuracy is recorded and tested
EVAL_SEED, EVAL_N = 20240, 500


def parser(name, description):
    """The arguments every experiment takes."""
    p = argparse.ArgumentParser(prog=f"python -m dtd.experiments.{name}", description=description, epilog=SEEDS)
    p.add_argument("--quick", action="store_true",
                   help="a run of well under a minute: few samples, the shipped weights (no training)")
    p.add_argument("--out", default=f"dtd-experiments/{name}", help="output folder (default: %(default)s)")
    p.add_argument("--train", action="store_true",
                   help="train the network(s) from scratch instead of loading the shipped weights "
                        "(full settings; with --quick, a few hundred steps only)")
    p.add_argument("--weights", default=None,
                   help="weights file to load (default: the shipped one in data/); with --train, "
                        "where to save the trained weights (default: OUT/<model file>)")
    p.add_argument("--seed", type=int, default=0, help="seed of the test samples shown (default: %(default)s)")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="BLAS threads, if threadpoolctl is installed (default: %(default)s; the arrays are "
                        "small, and more threads only contend on a busy machine)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return p


#: what "seed 00x" in the experiments' tables means (printed below a table that uses the word)
SEEDS = ("'seed 00x' names the source document a result comes from, one of the five sets of slides dtd was "
         "specified from: 000 project tasks (VOC CNN, DTD for CNNs, LRP vs DTD), 001 the DTD paper "
         "(Montavon et al. 2017: MNIST pairs, Titanic), 002 LRP for CNNs and the LRP composition, 003 LRP "
         "with local renormalisation layers, 004 a tutorial on the properties of explanations")

#: the arguments of :func:`parser` an experiment's ``run`` may take, by the same name
RUN_ARGS = ("quick", "out", "train", "weights", "seed", "progress", "blas_threads")


def experiment_main(name, doc, run, argv=None, *, options=None, extra=None, show="results.md", report=None):
    """The ``main`` of every experiment: parse the arguments, call ``run``, print the table and the files.

    Parameters
    ----------
    name, doc : str
        The module's ``NAME`` and ``__doc__`` (its first line is the ``--help`` description).
    run : callable
        The module's ``run``; it gets those of :data:`RUN_ARGS` its signature names.
    argv : list of str, optional
    options : callable ``parser -> None``, optional
        Adds the experiment's own arguments to :func:`parser`'s.
    extra : callable ``(args, parser) -> dict``, optional
        Further keyword arguments of ``run`` (from its own arguments; may call ``parser.error``).
    show : str or None
        A file in ``--out`` printed first (the experiment's table).
    report : callable ``result -> str``, optional
        A line printed before the list of the files written.

    Returns
    -------
    int
        0 (the exit status).
    """
    p = parser(name, doc.strip().splitlines()[0])
    if options is not None:
        options(p)
    args = p.parse_args(argv)
    takes = inspect.signature(run).parameters
    kwargs = {k: getattr(args, k) for k in RUN_ARGS if k in takes}
    if extra is not None:
        kwargs.update(extra(args, p))
    res = run(**kwargs)
    if show:
        text = Path(args.out, show).read_text()
        print(text)
        if "seed 00" in text.lower() or "seed's" in text.lower():
            print(SEEDS)
    files = f"wrote {', '.join(res['files'])} to {args.out}"
    print(f"{report(res)}; {files}" if report is not None else files)
    return 0


def each(items, progress=True, desc="pixel flipping"):
    """``items`` with a tqdm bar (shown on a terminal; none with ``progress=False``)."""
    from tqdm.auto import tqdm
    return tqdm(items, desc=desc, leave=False, disable=True if not progress else None)


class stages:
    """A progress bar over the named stages of an experiment (tqdm; ``progress=False``: none).

    ``with stages(["train", "explain", "figures"], progress) as st: st.next("train"); ...``:
    each :meth:`next` closes the previous stage and names the running one in the bar.
    """

    def __init__(self, names, progress=True, desc="experiment"):
        from tqdm.auto import tqdm
        self.bar = tqdm(total=len(names), desc=desc, unit="stage", leave=False,
                        disable=True if not progress else None)       # None: only on a terminal
        self.started, self.done, self.current = False, 0, None

    def next(self, name):
        """Close the running stage (if any) and start ``name``."""
        if self.started:
            self.done += 1
            self.bar.update(1)
        self.started, self.current = True, name
        self.bar.set_postfix_str(name)

    def close(self):
        """End the last stage and remove the bar (what leaving the ``with`` block does)."""
        self.__exit__(None, None, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.started and exc[0] is None:
            self.done += 1
            self.bar.update(1)
            self.started = False
        self.bar.close()


def mnist_pairs(split, n, seed, p_absent=0.5):
    """``n`` MNIST pairs (uint8 images) from ``split`` ("train" or "test"), see :func:`dtd.datasets.make_pairs`."""
    from ..datasets import load_mnist, make_pairs
    images, labels = load_mnist(split=split, dtype=np.uint8)
    return make_pairs(images, labels, n, seed=seed, p_absent=p_absent)


def evaluation_pairs(n=EVAL_N, seed=EVAL_SEED):
    """The fixed test sample of the accuracy records: ``n`` pairs of the test split, half without a digit 0-3."""
    return mnist_pairs("test", n, seed, p_absent=0.5)


def to_float(images, dtype=np.float64):
    """uint8 pixels to [0, 1]."""
    return images.astype(dtype) / dtype(255)


def presence_accuracy(net, pairs, batch=500):
    """Share of pairs where ``f(x) > 0.5`` agrees with the presence of a digit 0-3."""
    f = np.concatenate([net.forward(to_float(pairs.images[k:k + batch], np.float32))[:, 0]
                        for k in range(0, len(pairs.images), batch)])
    return float(np.mean((f > 0.5) == (pairs.target >= 0)))


def load_or_train(kind, args, out, quick_steps=300):
    """The network ``kind``: trained (``--train``) and saved, or loaded from ``--weights`` / data/.

    Returns
    -------
    (Sequential, dict)
        The network and a record of where it came from (file, training time and settings).
    """
    from .. import load, save
    from .._paths import data_dir
    from .models import CNN_CONFIG, CNN_FILE, DETECTOR_CONFIG, DETECTOR_FILE, train_model

    file, config = {"detector": (DETECTOR_FILE, DETECTOR_CONFIG), "cnn": (CNN_FILE, CNN_CONFIG)}[kind]
    if args.train:
        pairs = mnist_pairs("train", config.n_train, config.pair_seed, config.p_absent)
        with Timer() as t:
            net, hist = train_model(kind, pairs.images, pairs.target, config,
                                    max_steps=quick_steps if args.quick else None, progress=args.progress)
        path = Path(args.weights) if args.weights else Path(out) / file
        save(net, path)
        return net, {"weights": str(path), "trained": True, "steps": hist.steps, "seconds": round(t.seconds, 1),
                     "final_loss": float(hist.loss[-min(500, hist.steps):].mean()), **config.as_dict()}
    path = Path(args.weights) if args.weights else data_dir() / file
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: train the model with --train, or give --weights")
    return load(path), {"weights": str(path), "trained": False}


def write_table(rows, path_stem, title=None, notes=()):
    """Write ``rows`` (a list of dicts with the same keys) as ``<stem>.csv`` and ``<stem>.md``.

    Floats are written with 6 significant digits in the Markdown table, in full in the CSV.
    """
    path_stem = Path(path_stem)
    keys = list(rows[0])
    with open(path_stem.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)

    def cell(v):
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    lines = [f"# {title}", ""] if title else []
    lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(r[k]) for k in keys) + " |" for r in rows]
    lines += [""] + [f"- {n}" for n in notes]
    path_stem.with_suffix(".md").write_text("\n".join(lines) + "\n")


def write_json(obj, path):
    Path(path).write_text(json.dumps(obj, indent=2, default=float) + "\n")


def gray(x):
    """Images in [0, 1] of shape (N, 1, H, W) as uint8 RGB (N, H, W, 3)."""
    g = np.floor(255 * np.clip(x[:, 0], 0, 1) + 0.5).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


def upscale(images, k=3):
    """Enlarge uint8 images (..., H, W, 3) by pixel repetition."""
    return np.repeat(np.repeat(images, k, axis=-3), k, axis=-2)


def blas_limit(threads):
    """Context manager limiting BLAS to ``threads`` threads (through threadpoolctl; a no-op without it).

    The experiments multiply small matrices (mini-batches of 20): one thread is as fast
    as several, is much faster on a busy machine, and makes training bitwise reproducible.
    """
    import contextlib
    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(threads), user_api="blas")


class Timer:
    """``with Timer() as t: ...``; then ``t.seconds``."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
