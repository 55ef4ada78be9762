"""The one ``main`` every experiment uses (dtd.experiments.common.experiment_main) and its stage bar.

Compared against what the fake ``run`` below received and wrote: the arguments by name, the
printed table and report line; no numerics here.
"""
import pytest

from dtd.experiments import common


def fake_run(quick=False, out="o", seed=0, progress=True, level=1):
    from pathlib import Path
    Path(out).mkdir(parents=True, exist_ok=True)
    table = f"| quick | seed | progress | level |\n| {quick} | {seed} | {progress} | {level} |"
    Path(out, "results.md").write_text(table)
    return {"files": ["results.md"], "level": level}


def test_main_passes_the_arguments_run_takes(tmp_path, capsys):
    def options(p):
        p.add_argument("--level", type=int, default=1)

    code = common.experiment_main("fake", "A fake experiment.\n\nMore.", fake_run,
                                  ["--quick", "--out", str(tmp_path), "--seed", "3", "--no-progress", "--level", "7",
                                   "--train"],
                                  options=options, extra=lambda args, p: dict(level=args.level),
                                  report=lambda res: f"level {res['level']}")
    out = capsys.readouterr().out
    assert code == 0
    assert "| True | 3 | False | 7 |" in out                 # train and weights: not taken by fake_run
    assert out.strip().endswith(f"level 7; wrote results.md to {tmp_path}")


def test_main_usage_errors_exit_2(tmp_path, capsys):
    def extra(args, p):
        p.error("--level must be positive")

    with pytest.raises(SystemExit) as e:
        common.experiment_main("fake", "A fake experiment.", fake_run, ["--out", str(tmp_path)], extra=extra)
    assert e.value.code == 2 and "--level must be positive" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        common.experiment_main("fake", "A fake experiment.", fake_run, ["--bogus"])
    assert e.value.code == 2


def test_stages_count():
    with common.stages(["a", "b", "c"], progress=True) as st:
        for name in "abc":
            st.next(name)
            assert st.current == name
        assert st.done == 2
    assert st.done == 3 and st.bar.total == 3
    with common.stages(["a"], progress=False) as st:
        st.next("a")
    assert st.bar.disable


@pytest.mark.parametrize("name", ["mnist_detection", "mnist_deep", "sensitivity_taylor", "mnist_lrn",
                                  "lrp_composition", "titanic", "voc", "oneclass", "properties", "lrp_vs_dtd"])
def test_every_experiment_has_the_common_options(name, capsys):
    import importlib
    mod = importlib.import_module(f"dtd.experiments.{name}")
    with pytest.raises(SystemExit) as e:
        mod.main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for option in ("--quick", "--out", "--no-progress", "--blas-threads"):
        assert option in text, (name, option)


def test_seed_documents_are_explained_where_printed(tmp_path, capsys):
    def run(out="o"):
        from pathlib import Path
        Path(out).mkdir(parents=True, exist_ok=True)
        Path(out, "results.md").write_text("| rule | seed 001 |\n")
        return {"files": ["results.md"]}

    common.experiment_main("fake", "A fake experiment.", run, ["--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "'seed 00x' names the source document" in out and "001 the DTD paper" in out
    with pytest.raises(SystemExit):
        common.experiment_main("fake", "A fake experiment.", run, ["--help"])
    assert "'seed 00x' names the source document" in capsys.readouterr().out
