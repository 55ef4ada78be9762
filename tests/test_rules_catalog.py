"""docs/rules.md and ``dtd rules`` are generated from the rule classes and cannot drift from them.

- every public Rule subclass that dtd.rules exports has its own ``reference`` metadata with every field,
  every peer, and tests that exist (a new rule without one fails here by name);
- docs/rules.md equals :func:`dtd.rules.catalog.markdown` byte for byte (regenerate with
  ``python -m dtd rules --markdown --output docs/rules.md``);
- a rule class added to dtd.rules is picked up automatically, as a MISSING row until it has metadata;
- the metadata of the deep Taylor rules agrees with their code: the search direction the table states is
  the one ``search_direction`` returns on a small case (computed here from the stated formula);
- the CLI lists the rules, prints one rule, and refuses an unknown name with the list of names.
No numerical tolerance: strings are compared exactly; the directions to 1e-15 (float64 rounding).
"""
from pathlib import Path

import numpy as np
import pytest

import dtd.rules
from dtd.cli import main
from dtd.rules import DTDRule, Rule, WSquare, ZBox, ZPlus, catalog

ROOT = Path(__file__).resolve().parent.parent


def test_every_exported_rule_has_complete_metadata():
    exported = [getattr(dtd.rules, n) for n in dtd.rules.__all__]
    exported = [c for c in exported if isinstance(c, type) and issubclass(c, Rule)
                and c not in (Rule, dtd.rules.LinearRule, DTDRule)]
    classes = catalog.rule_classes()
    assert set(exported) <= set(classes)
    assert not catalog.problems(), "\n".join(catalog.problems())


def test_docs_rules_md_is_the_generated_text():
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert text == catalog.markdown(), "docs/rules.md is stale: python -m dtd rules --markdown --output docs/rules.md"
    for cls in catalog.rule_classes():
        assert f"| `{cls.__name__}` (" in text            # one table row per rule
        assert f"\n## `{cls.__name__}`\n" in text


def test_a_new_rule_without_metadata_is_listed_and_flagged(monkeypatch):
    class MergeShare(Rule):
        """A rule someone adds later."""

    monkeypatch.setattr(dtd.rules, "MergeShare", MergeShare, raising=False)
    monkeypatch.setattr(dtd.rules, "__all__", dtd.rules.__all__ + ["MergeShare"])
    assert MergeShare in catalog.rule_classes()
    assert any(p.startswith("MergeShare: no `reference`") for p in catalog.problems())
    row = [line for line in catalog.table().splitlines() if line.startswith("| `MergeShare`")]
    assert len(row) == 1 and "MISSING: add `reference = {...}` to MergeShare" in row[0]
    # a subclass that only inherits its parent's metadata is missing too
    class ZPlusVariant(ZPlus):
        pass

    assert catalog.problems([ZPlusVariant]) == [
        f"ZPlusVariant: no `reference` dict in the class body ({catalog.entry(ZPlusVariant)['file']})"]


def test_problems_names_bad_fields():
    class Half(Rule):
        reference = {"name": "half", "formula": "R_x = R_y / 2", "peers": {"Zennit": "-", "Keras": "x"},
                     "tests": ["tests/test_rules_catalog.py::test_no_such_test", "tests/no_such_file.py"]}

    found = catalog.problems([Half])
    for text in ["no 'bias'", "no 'domain'", "no 'conservation'", "no 'closed_form'", "has no 'Captum'",
                 "unknown peer 'Keras'", "no function test_no_such_test", "tests/no_such_file.py: no such file"]:
        assert any(text in p for p in found), (text, found)


def _stated_direction(name, W, x, low=None, high=None):
    """The search direction as the table writes it, computed from that text's formula by hand."""
    if name == "w^2":                                   # v = w_j
        return np.broadcast_to(W[None], (x.shape[0],) + W.shape)
    if name == "z+":                                    # v_i = x_i 1[w_ij > 0]
        return x[:, None, :] * (W > 0)[None]
    if name == "z^B":                                   # v_i = x_i - l_i 1[w_ij > 0] - h_i 1[w_ij < 0], 0 where w_ij = 0
        return (x[:, None, :] - low * (W > 0)[None] - high * (W < 0)[None]) * (W != 0)[None]
    raise AssertionError(name)


@pytest.mark.parametrize("rule,text", [(WSquare(), "v = w_j"), (ZPlus(), "v_i = x_i 1[w_ij > 0]"),
                                       (ZBox(-1.0, 2.0), "v_i = x_i - l_i 1[w_ij > 0] - h_i 1[w_ij < 0]")])
def test_stated_search_direction_is_the_code(rule, text):
    ref = type(rule).reference
    assert ref["direction"].startswith(text)
    rng = np.random.default_rng(3)
    W = rng.normal(size=(3, 4))
    W[1, 2] = 0.0                                       # a zero weight: where the stated directions differ most
    x = rng.uniform(0, 1, size=(2, 4))
    want = _stated_direction(ref["name"], W, x, -1.0, 2.0)
    np.testing.assert_allclose(rule.search_direction(W, x), want, rtol=0, atol=1e-15)


def test_find_by_class_or_name():
    assert catalog.find("zplus") is ZPlus and catalog.find("z+") is ZPlus and catalog.find("w^2") is WSquare
    assert catalog.find("LRP-0") is dtd.rules.Epsilon
    with pytest.raises(KeyError, match="the rules are: PassThrough"):
        catalog.find("nope")


def test_cli_lists_every_rule(capsys):
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    for cls in catalog.rule_classes():
        assert any(line.startswith(cls.__name__ + " ") for line in out.splitlines()), cls.__name__
    assert "R_i = sum_j w_ij^2 / sum_i' w_i'j^2 R_j" in out


def test_cli_shows_one_rule_as_the_docs_do(capsys):
    assert main(["rules", "z+"]) == 0
    out = capsys.readouterr().out
    assert out == catalog.describe(ZPlus)
    assert out in (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    for field in ["formula", "search direction", "root point", "closed form", "conserves when", "Zennit",
                  "iNNvestigate", "Captum", "LRP Toolbox", "tests"]:
        assert any(line.startswith(field + " ") for line in out.splitlines()), field
    assert "ZPlus(epsilon=0.0, bias='none'" in out       # the signature, read from the class


def test_cli_markdown_writes_the_docs_text(tmp_path, capsys):
    out = tmp_path / "rules.md"
    assert main(["rules", "--markdown", "--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == catalog.markdown()
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [(["rules", "nope"], "no rule 'nope'; the rules are: PassThrough"),
                                          (["rules", "--output", "x.md"], "--output needs --markdown"),
                                          (["rules", "ZPlus", "--markdown"], "leave out NAME")])
def test_cli_bad_input(args, message, capsys):
    assert main(args) == 1
    assert message in capsys.readouterr().err
