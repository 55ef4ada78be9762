"""``dtd info MODEL``: the layers of a model, their output shapes and parameter counts."""
__all__ = ["add_parser", "run"]


def add_parser(sub):
    p = sub.add_parser("info", help="list the layers of a model (dtd .npz, ONNX or LRP Toolbox text), "
                                    "their output shapes and parameter counts",
                       description="Read MODEL (dtd .npz, ONNX or LRP Toolbox text, recognised by its content) "
                       "and print one line per layer or graph node: the layer, its output shape (when the model "
                       "records its input shape, or with --input-shape) and its parameter count; then the total. With --rules NAME, also the rule each node gets from that composite "
                       "and where the network's structure changed it. Nothing is written.")
    p.add_argument("model", metavar="MODEL", help="model file (format recognised by content)")
    p.add_argument("--input-shape", type=int, nargs="+", metavar="D",
                   help="shape of one input without the batch axis, e.g. 3 224 224 (default: what the model "
                        "records, or the input size of a first Dense layer)")
    p.add_argument("--rules", metavar="NAME",
                   help="also show the rule each layer and merge node gets from this composite (e.g. "
                        "epsilon-gamma-box), and where the network's structure changed it")
    return p


def run(args):
    from ..graph import Graph
    from ..io import load_any
    from ..io.detect import FORMATS
    from ._model_info import describe, first_channels, guess_input_shape

    shape = (1,) + tuple(args.input_shape) if args.input_shape else None
    net = load_any(args.model, input_shape=shape)
    if shape is None:
        shape = guess_input_shape(net)
    try:
        rows = describe(net, shape)
    except ValueError as e:
        raise ValueError(f"input shape {shape[1:]} does not fit the model: {e}") from None
    kind = "Graph" if isinstance(net, Graph) else "Sequential"
    print(f"model {args.model}: {FORMATS[net.model_format]}, {kind} with {len(net.layers)} layers"
          + (f" and {len(net.nodes) - len(net.layers)} merge nodes" if isinstance(net, Graph) else ""))
    if shape is not None:
        print(f"input shape (one sample): {tuple(shape[1:])}")
    else:
        c = first_channels(net)
        print("input shape unknown" + (f" (the first convolution takes {c} channels)" if c else "")
              + ": pass --input-shape to see output shapes")
    w = max(len(r[0]) for r in rows)
    graph = isinstance(net, Graph)
    for name, op, inputs, out, n in rows:
        src = f"  <- {inputs}" if graph else ""
        print(f"  {name:<{w}}  {op}{src}" + (f"  -> {out[1:]}" if out is not None else "")
              + (f"  [{n} parameters]" if n else ""))
    total = sum(r[4] for r in rows)
    print(f"parameters: {total}")
    for note in getattr(net, "import_notes", []):
        print(f"note: {note}")
    if args.rules:
        _print_plan(net, args.rules)
    return 0


def _print_plan(net, name):
    """The rules of composite ``name`` on ``net`` (box presets with a placeholder box: the rules do not depend
    on its values)."""
    from .. import composites
    from ..evaluate.methods import BOX_METHODS
    from ..gating import node_view
    comp = composites.get(name, **({"low": 0.0, "high": 1.0} if name in BOX_METHODS else {}))
    if not hasattr(comp, "plan"):
        raise ValueError(f"{name!r} is not a composite with a plan")
    rules, notes = comp.plan(net)
    nodes, _ = node_view(net)
    print(f"rules of {name}:")
    w = max(len(n) for n, _, _ in nodes)
    for n, op, _ in nodes:
        r = rules.get(n)
        r = op.default_rule() if r is None else r
        print(f"  {n:<{w}}  {type(op).__name__:<14} {'(own split)' if r is None else repr(r)}")
    for n, why in notes.items():
        print(f"note: {n}: {why}")
