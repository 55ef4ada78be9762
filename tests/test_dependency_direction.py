"""The rules never import the layers (issue 17): a rule names the layers it applies to by class name,
and the layers import the rules (a layer names its default rule). Checked on the source (AST), and
against isinstance on the real classes for every rule that dtd.rules exports.
"""
import ast
from pathlib import Path

import pytest

import dtd.layers
import dtd.rules
from dtd.rules import Rule
from dtd.rules.base import is_layer_type

RULES = Path(dtd.rules.__file__).parent


@pytest.mark.parametrize("path", sorted(p.name for p in RULES.glob("*.py") if p.name != "catalog.py"))
def test_no_rule_module_imports_the_layers(path):
    tree = ast.parse((RULES / path).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = ("." * node.level) + (node.module or "")
            names = [a.name for a in node.names]
            assert not (target.startswith("..layers") or (target == ".." and "layers" in names)
                        or target.startswith("dtd.layers")), f"{path}:{node.lineno} imports {target}"
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith("dtd.layers") for a in node.names), f"{path}:{node.lineno}"


def _rules():
    out = []
    for name in dtd.rules.__all__:
        cls = getattr(dtd.rules, name)
        if isinstance(cls, type) and issubclass(cls, Rule):
            try:
                out.append(cls())
            except TypeError:
                pass                                           # needs arguments (ZBox, ...): covered below
    return out + [dtd.rules.ZBox(0.0, 1.0)]


@pytest.mark.parametrize("rule", _rules(), ids=lambda r: type(r).__name__)
def test_names_match_as_isinstance_on_the_classes(rule):
    names = rule.layer_types()
    assert all(isinstance(n, str) for n in names)
    classes = tuple(getattr(dtd.layers, n, None) or getattr(dtd.layers.base, n) for n in names)
    for layer_name in dtd.layers.__all__:
        cls = getattr(dtd.layers, layer_name)
        if isinstance(cls, type):
            assert is_layer_type(cls, names) == issubclass(cls, classes), (type(rule).__name__, layer_name)


def test_wrong_rule_message_names_the_layers():
    from dtd.layers import Dense, MaxPool2d
    layer = MaxPool2d(2)
    message = r"rule Epsilon does not apply to layer MaxPool2d \(it applies to: LinearLayer\)"
    with pytest.raises(TypeError, match=message):
        layer.check_rule(dtd.rules.Epsilon(0.1))
    assert dtd.rules.Epsilon().applies_to(Dense([[1.0]], [0.0]))
