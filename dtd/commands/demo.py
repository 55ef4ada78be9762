"""``dtd demo``: explain the example model shipped in ``data/`` and check the explanation."""
import numpy as np

__all__ = ["add_parser", "run"]


def add_parser(sub):
    p = sub.add_parser("demo", help="explain the example model shipped in data/ and print the checks")
    p.add_argument("--data", default=None, help="the data folder (default: the project's data/)")
    return p


def run(args):
    from pathlib import Path

    from .. import composites, load
    from .._paths import data_dir
    from ..examples import DEMO_CLASSES, DEMO_INPUTS, DEMO_MODEL

    folder = Path(args.data) if args.data else data_dir()
    net = load(folder / DEMO_MODEL)
    x = np.load(folder / DEMO_INPUTS, allow_pickle=False)
    out = net.forward(x)
    target = out.argmax(axis=1)
    fc = out[np.arange(len(x)), target]
    print(f"model {folder / DEMO_MODEL}: {len(net.layers)} layers; {len(x)} inputs {x.shape[1:]}")
    print(f"{'input':>6} {'class':>9} {'f_c(x)':>10}  {'composite':<20} {'sum R':>10} {'rel. err':>9} {'neg. share':>10}")
    for name, params in [("dtd", dict(low=0.0, high=1.0)), ("lrp-0", {}),
                         ("epsilon-gamma-box", dict(low=0.0, high=1.0))]:
        R = net.explain(x, composites.get(name, **params), target=target)
        total = R.reshape(len(x), -1).sum(axis=1)
        neg = np.clip(R, None, 0).reshape(len(x), -1).sum(axis=1)
        mass = np.abs(R).reshape(len(x), -1).sum(axis=1)
        for n in range(len(x)):
            err = abs(total[n] - fc[n]) / max(abs(fc[n]), 1e-300)
            share = abs(neg[n]) / mass[n] if mass[n] > 0 else 0.0
            print(f"{n:>6} {DEMO_CLASSES[target[n]]:>9} {fc[n]:>10.4f}  {name:<20} {total[n]:>10.4f} "
                  f"{err:>9.1e} {share:>10.3f}")
    print("conservation: 'sum R' is the summed input relevance, 'rel. err' its relative error to f_c(x);")
    print("the DTD training-free model is conservative and positive on this ReLU net with b <= 0.")
    return 0
