"""The "Model zoo" appendix lists every model with the parameter counts of the code."""

import importlib.util
import re

import pytest
from conftest import ROOT

from coursekit.models import build, count_params, names


def zoo_module():
    spec = importlib.util.spec_from_file_location("model_zoo", ROOT / "benchmarks" / "model_zoo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def page_rows() -> dict:
    text = (ROOT / "book" / "model_zoo.md").read_text()
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\| `(\w+)` \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|", line)
        if match:
            rows[match[1]] = tuple(int(g.replace(",", "")) for g in match.groups()[1:])
    return rows


def test_every_model_is_in_the_zoo():
    assert set(page_rows()) == set(names()) - {"tiny_fcn"}
    assert [row[0] for row in zoo_module().ZOO] == list(page_rows())


@pytest.mark.parametrize("name, config", [(row[0], row[1]) for row in zoo_module().ZOO])
def test_the_page_counts_are_the_code_counts(name, config):
    torch_count, keras_count, _ = page_rows()[name]
    assert torch_count == keras_count == count_params(build(name, "torch", **config))
