"""dtd's forward against onnxruntime's on the same VGG-16 in ONNX: issue 7, target 3 (dtd / ort at most 1.5).

    python benchmarks/compare_onnxruntime.py [--side 224] [--batch 1 8] [--repeat 3] [--threads N] [--quick]

The ONNX model is built with ``onnx.helper`` from the weights of
``_vgg.vgg16`` (float32, random weights, zero biases): Conv (3x3, pads 1) /
Relu / MaxPool (2x2, stride 2) / Flatten / Gemm (``transB=1``), with a symbolic
batch axis.  dtd runs the network it imports from that model
(``dtd.io.load_onnx``), so both run the same file; the script checks that the
imported weights equal the originals bit for bit and prints the largest
relative difference of the two outputs.

onnxruntime: CPU execution provider, all graph optimisations, sequential
execution, ``intra_op_num_threads`` = NumPy's BLAS threads (``--threads N``
sets both), inter-op 1.  Timed interleaved (``_common.measure``), best of
``--repeat`` rounds; the ratio dtd / ort is by best wall time (CPU-time ratio
beside it).
"""
import argparse
import sys

import numpy as np

import _common
from _common import Stats, measure, verdict
from dtd.layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU
from _vgg import vgg16

LIMIT = 1.5


def to_onnx(onnx, net, side, opset=17):
    """An ``onnx.ModelProto`` of the dtd Sequential ``net`` (Conv2d, ReLU, MaxPool2d, Flatten, Dense)."""
    from onnx import TensorProto, helper, numpy_helper
    nodes, inits, cur = [], [], "input"
    for i, layer in enumerate(net.layers):
        out = f"t{i}"
        name = f"{type(layer).__name__.lower()}{i}"
        if isinstance(layer, Conv2d):
            inits += [numpy_helper.from_array(layer.weight, f"{name}.weight"),
                      numpy_helper.from_array(layer.bias, f"{name}.bias")]
            sh, sw = layer.stride
            nodes.append(helper.make_node("Conv", [cur, f"{name}.weight", f"{name}.bias"], [out], name=name,
                                          kernel_shape=list(layer.weight.shape[2:]), pads=list(layer.pads),
                                          strides=[sh, sw]))
        elif isinstance(layer, Dense):
            inits += [numpy_helper.from_array(layer.weight, f"{name}.weight"),
                      numpy_helper.from_array(layer.bias, f"{name}.bias")]
            nodes.append(helper.make_node("Gemm", [cur, f"{name}.weight", f"{name}.bias"], [out], name=name,
                                          transB=1))
        elif isinstance(layer, ReLU):
            nodes.append(helper.make_node("Relu", [cur], [out], name=name))
        elif isinstance(layer, MaxPool2d):
            nodes.append(helper.make_node("MaxPool", [cur], [out], name=name,
                                          kernel_shape=list(layer.kernel_size), strides=list(layer.stride)))
        elif isinstance(layer, Flatten):
            nodes.append(helper.make_node("Flatten", [cur], [out], name=name, axis=1))
        else:
            raise TypeError(f"no ONNX counterpart here for {type(layer).__name__}")
        cur = out
    n_out = net.layers[-1].weight.shape[0]
    graph = helper.make_graph(
        nodes, "vgg16", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, side, side])],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT, ["N", n_out])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="dtd benchmarks/compare_onnxruntime.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def same_weights(a, b):
    """True if the linear layers of two Sequentials have bit-identical weights and biases, in order."""
    la = [x for x in a.layers if isinstance(x, (Conv2d, Dense))]
    lb = [x for x in b.layers if isinstance(x, (Conv2d, Dense))]
    return len(la) == len(lb) and all(
        type(p) is type(q) and np.array_equal(p.weight, q.weight) and np.array_equal(p.bias, q.bias)
        and p.weight.dtype == q.weight.dtype for p, q in zip(la, lb))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _common.add_timing_options(p, "side 112, batch 1, 2 rounds")
    args = p.parse_args(argv)
    if args.quick:
        args.side, args.batch, args.repeat = 112, [1], 2
    try:
        import onnx
        import onnxruntime as ort
    except ImportError:
        sys.exit("compare_onnxruntime needs onnx and onnxruntime: pip install onnx onnxruntime")
    from dtd.io import load_onnx
    threads = _common.set_threads(args.threads) or 2

    original = vgg16(args.side, dtype=np.float32)
    model = to_onnx(onnx, original, args.side)
    net = load_onnx(model)
    ok = same_weights(original, net)
    del original
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    del model
    _common.header("compare_onnxruntime: dtd forward vs onnxruntime forward, VGG-16-shaped network, float32",
                   [f"onnx {onnx.__version__}, onnxruntime {ort.__version__} ({', '.join(sess.get_providers())}, "
                    f"intra-op threads {threads} = NumPy's BLAS threads, inter-op 1, ORT_ENABLE_ALL)",
                    f"dtd network imported from the ONNX model by dtd.io.load_onnx "
                    f"({len(net.layers)} layers); weights identical to the originals: {ok}",
                    f"side {args.side}, batches {args.batch}, best of {args.repeat} interleaved rounds"])
    if not ok:
        sys.exit("the imported weights differ from the originals: not the same network")

    rows = []
    for batch in args.batch:
        x = np.random.default_rng(1).uniform(size=(batch, 3, args.side, args.side)).astype(np.float32)
        out_d = net.forward(x)
        out_o = sess.run(None, {"input": x})[0]
        diff = float(np.abs(out_d - out_o).max() / np.abs(out_o).max())
        st = measure({"dtd forward": lambda: net.forward(x),
                      "onnxruntime forward": lambda: sess.run(None, {"input": x})},
                     args.repeat, warmup=not args.no_warmup)
        print(f"\n{batch}x3x{args.side}x{args.side} float32  (outputs: max rel. diff. {diff:.1e}, "
              f"same argmax: {bool((out_d.argmax(1) == out_o.argmax(1)).all())})")
        print(f"  {'':<22} {Stats.ROW_HEAD}")
        for name, s in st.items():
            print(f"  {name:<22} {s.row()}")
        rows.append((batch, st["dtd forward"], st["onnxruntime forward"]))
    print(f"\nSummary (target: dtd forward / onnxruntime forward <= {LIMIT}, best wall time; CPU-time ratio beside)")
    print(f"  {'batch':>5} {'dtd s':>8} {'ort s':>8} {'ratio':>6} {'(CPU)':>6}  verdict")
    for batch, d, o in rows:
        r = d.best / o.best
        print(f"  {batch:>5} {d.best:8.3f} {o.best:8.3f} {r:6.2f} {d.cpu_best / o.cpu_best:6.2f}  {verdict(r, LIMIT)}")
    _common.footer()


if __name__ == "__main__":
    main()
