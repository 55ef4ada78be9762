"""The command-line hook of dtd.batch (dtd/batch/cli.py), on a parser built the way the commands build theirs."""
import argparse

import numpy as np
import pytest

import dtd
from dtd import composites
from dtd._paths import data_dir
from dtd.batch import chunk_bounds, load_evaluation, load_results
from dtd.batch import cli as batch_cli

MODEL = str(data_dir() / "demo_net.npz")


def parser():
    p = argparse.ArgumentParser(prog="dtd explain")
    p.add_argument("model")
    batch_cli.add_dataset_arguments(p)
    return p


def test_explain_dataset_from_the_command_line(tmp_path, capsys):
    x = np.random.default_rng(3).uniform(size=(10, 1, 16, 16))
    np.save(tmp_path / "x.npy", x)
    args = parser().parse_args([MODEL, "--dataset", str(tmp_path / "x.npy"), "--results", str(tmp_path / "r"),
                                "--workers", "2", "--chunk-size", "4"])
    assert batch_cli.wants_dataset(args) and batch_cli.executor_of(args) == (None, 2)
    assert batch_cli.run_explain(args, args.model, "dtd", {"low": 0.0, "high": 1.0}) == 0
    assert "explained: 3 chunks in" in capsys.readouterr().out
    net, comp = dtd.load(MODEL), composites.get("dtd", low=0.0, high=1.0)
    ref = np.concatenate([net.explain(x[a:b], comp) for a, b in chunk_bounds(10, 4)])
    assert np.array_equal(load_results(tmp_path / "r"), ref)
    # the rerun resumes: nothing left to compute
    batch_cli.run_explain(args, args.model, "dtd", {"low": 0.0, "high": 1.0})
    assert "(0 computed, 3 already done)" in capsys.readouterr().out


def test_evaluate_dataset_from_the_command_line(tmp_path, capsys):
    x = np.random.default_rng(4).uniform(size=(5, 1, 16, 16))
    np.save(tmp_path / "x.npy", x)
    args = parser().parse_args([MODEL, "--dataset", str(tmp_path / "x.npy"), "--results", str(tmp_path / "r"),
                                "--workers", "0"])
    assert batch_cli.executor_of(args) == ("serial", None)
    batch_cli.run_evaluate(args, args.model, ["dtd", "lrp-0"], box=(0.0, 1.0),
                           flipping_options={"region": 8}, continuity_options={"n_noise": 0})
    out = capsys.readouterr().out
    ev = load_evaluation(tmp_path / "r")
    assert "| dtd | mean |" in out and "| lrp-0 | mean |" in out
    lines = (tmp_path / "r" / "summary.csv").read_text().splitlines()
    assert lines[0].startswith("method,sample,f_c,sum_R,conservation_error")
    assert float(lines[1].split(",")[3]) == ev["sum_R"][:, 0].mean()


def test_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        parser().parse_args([MODEL, "--dataset", "x.npy", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])
    assert e.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser().parse_args([MODEL, "--dataset", "x.npy", "--chunk-size", "0"])
    args = parser().parse_args([MODEL, "--dataset", "x.npy"])
    with pytest.raises(ValueError, match="--dataset needs --results DIR"):
        batch_cli.run_explain(args, MODEL, "lrp-0")
    assert not batch_cli.wants_dataset(parser().parse_args([MODEL]))
    assert batch_cli.executor_of(parser().parse_args([MODEL, "--scheduler", "tcp://h:8786"])) == ("tcp://h:8786", None)


def test_explain_dataset_draws_the_first_heatmaps(tmp_path, capsys):
    """--heatmaps N: the first N inputs' heatmaps in RESULTS/heatmaps/, each the heatmap of the stored relevance."""
    from PIL import Image

    from dtd.evaluate.figures import auto_zoom, zoom
    from dtd.render import heatmap
    x = np.random.default_rng(5).uniform(size=(7, 1, 16, 16))
    np.save(tmp_path / "x.npy", x)
    p = parser()
    p.add_argument("--heatmaps", type=int, default=0)
    p.add_argument("--cmap", default="bwr")
    p.add_argument("--zoom", type=int, default=None)
    args = p.parse_args([MODEL, "--dataset", str(tmp_path / "x.npy"), "--results", str(tmp_path / "r"),
                         "--workers", "0", "--chunk-size", "2", "--heatmaps", "3"])
    batch_cli.run_explain(args, args.model, "dtd", {"low": 0.0, "high": 1.0})
    assert "heatmaps of the first 3 inputs" in capsys.readouterr().out
    files = sorted(p.name for p in (tmp_path / "r" / "heatmaps").iterdir())
    assert files == ["000000_heatmap.png", "000001_heatmap.png", "000002_heatmap.png"]
    R = load_results(tmp_path / "r")
    for k in range(3):
        ref = heatmap(R[k:k + 1], "bwr", batched=True)
        ref = zoom(ref, auto_zoom(*ref.shape[1:3]))[0]
        got = np.asarray(Image.open(tmp_path / "r" / "heatmaps" / files[k]).convert("RGB"))
        assert np.array_equal(got, ref)
