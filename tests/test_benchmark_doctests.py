"""The benchmark modules' docstring examples run (setup.cfg's doctest paths do not include benchmarks/)."""
import doctest
import importlib

import pytest

MODULES = ["benchmarks.environment", "benchmarks.workers", "benchmarks.numpy_lstm", "benchmarks.charlm",
           "benchmarks.op_overhead", "benchmarks.scaling", "benchmarks.__main__"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0
