"""``dtd render RELEVANCE.npy...``: relevance arrays to heatmap PNGs (see :mod:`dtd.render`).

An array ``(H, W)`` or ``(C, H, W)`` gives ``NAME.png``; a batch ``(N, C, H, W)``
(or ``(N, H, W)`` with ``--batched``) gives ``NAME_<i>.png`` per sample, or one
``NAME_grid.png`` with ``--grid``. Channels are summed. Files go to ``--out``
(default: beside each input).
"""
__all__ = ["add_parser", "run"]


def add_parser(sub):
    from .explain import add_heatmap_arguments
    p = sub.add_parser("render", help="draw relevance arrays (.npy) as heatmap PNGs",
                       description=__doc__.split("\n\n")[0].replace("``", ""))
    p.add_argument("inputs", metavar="RELEVANCE", nargs="+", help=".npy files")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: beside each input)")
    p.add_argument("--batched", action="store_true", help="read a 3-D array as (N, H, W), not (C, H, W)")
    p.add_argument("--grid", action="store_true", help="one image with every sample of a batch")
    s = p.add_mutually_exclusive_group()
    s.add_argument("--percentile", type=float, default=99.5,
                   help="scale by this percentile of |R| per map (default 99.5)")
    s.add_argument("--bound", type=float, default=None, help="scale by this fixed bound instead")
    add_heatmap_arguments(p)
    return p


def run(args):
    from pathlib import Path

    import numpy as np

    from ..evaluate.figures import auto_zoom, zoom
    from ..render import grid, heatmap
    from ._common import Outputs, check_numpy_file, numpy_error

    jobs = []
    for path in map(Path, args.inputs):
        if not path.is_file():
            raise FileNotFoundError(f"cannot read {path}: no such file")
        check_numpy_file(path, "relevance file")
        try:
            R = np.load(path, allow_pickle=False)
        except (ValueError, EOFError, OSError) as e:
            raise ValueError(numpy_error(path, e, "relevance file")) from None
        if not isinstance(R, np.ndarray):
            raise ValueError(f"{path}: expected one array (.npy), got an archive")
        batched = R.ndim == 4 or (R.ndim == 3 and args.batched)
        scaling = dict(batched=batched)
        if args.bound is not None:
            scaling["bound"] = args.bound
        else:
            scaling["percentile"] = args.percentile
        try:
            maps = heatmap(R, args.cmap, **scaling)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from None
        maps = maps if batched else maps[None]
        maps = zoom(maps, args.zoom or auto_zoom(*maps.shape[1:3]))
        folder = Path(args.out) if args.out else path.parent
        if not batched:
            files = [(f"{path.stem}.png", maps[0])]
        elif args.grid:
            files = [(f"{path.stem}_grid.png", grid(list(maps), [str(i) for i in range(len(maps))]))]
        else:
            files = [(f"{path.stem}_{i}.png", m) for i, m in enumerate(maps)]
        jobs.append((folder, files))
    protected = list(args.inputs)
    for folder, files in jobs:
        Outputs(folder, protected).check([name for name, _ in files])
    n = 0
    for folder, files in jobs:
        out = Outputs(folder, protected)
        for name, image in files:
            print(out.png(name, image))
            n += 1
    print(f"wrote {n} heatmap(s)")
    return 0
