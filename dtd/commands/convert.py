"""``dtd convert MODEL OUT.npz``: an ONNX or LRP Toolbox text model to the native format."""
import os

import numpy as np

__all__ = ["add_parser", "run"]


def add_parser(sub):
    p = sub.add_parser("convert", help="convert an ONNX or LRP Toolbox text model to dtd's .npz format",
                       description="Read MODEL (ONNX, LRP Toolbox text or dtd .npz, recognised by its content) "
                       "and write it to OUT.npz in dtd's native format: no pickle, an exact round trip, read "
                       "back with dtd.load. OUT.npz is written atomically; an existing file is replaced only "
                       "with --force, and never the input.")
    p.add_argument("model", metavar="MODEL", help="model file (ONNX, LRP Toolbox text or dtd .npz; by content)")
    p.add_argument("out", metavar="OUT.npz", help="the file to write (atomically)")
    p.add_argument("--input-shape", type=int, nargs="+", metavar="D",
                   help="shape of one input without the batch axis, for ONNX models with symbolic dimensions")
    p.add_argument("--force", action="store_true", help="replace OUT.npz if it exists (never the input)")
    return p


def _same_file(a, b):
    if os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.abspath(a) == os.path.abspath(b)


def run(args):
    from .. import load, save
    from ..io import load_any
    from ..io.detect import FORMATS
    from ._model_info import guess_input_shape, param_count

    if not os.path.isfile(args.model):
        raise FileNotFoundError(f"{args.model}: no such file")
    if _same_file(args.model, args.out):
        raise ValueError(f"{args.out} is the input file; dtd convert never overwrites its input")
    if not args.out.endswith(".npz"):
        raise ValueError(f"{args.out}: the output name must end in .npz")
    if os.path.exists(args.out) and not args.force:
        raise FileExistsError(f"{args.out} exists; pass --force to replace it")
    shape = (1,) + tuple(args.input_shape) if args.input_shape else None
    net = load_any(args.model, input_shape=shape)
    save(net, args.out)
    # check the written file: it loads, and gives bitwise the same forward pass when the input shape is known
    again = load(args.out)
    shape = shape or guess_input_shape(net)
    checked = ""
    if shape is not None:
        x = np.random.default_rng(0).uniform(0.0, 1.0, size=shape)
        if not np.array_equal(net.forward(x), again.forward(x)):
            os.unlink(args.out)
            raise RuntimeError(f"{args.out}: the written model does not reproduce the forward pass; removed")
        checked = "; reloaded and checked (identical forward pass)"
    params = sum(param_count(layer) for layer in net.layers)
    print(f"{args.model} ({FORMATS[net.model_format]}) -> {args.out}: {len(net.layers)} layers, "
          f"{params} parameters{checked}")
    for note in getattr(net, "import_notes", []):
        print(f"note: {note}")
    return 0
