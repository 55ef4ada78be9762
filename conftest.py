"""Doctests see ``np`` without importing it."""
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _doctest_numpy(doctest_namespace):
    doctest_namespace["np"] = np


#: the optional packages some tests import, and what installs them (README, "Optional tests")
INSTALLS = {
    "torch": 'pip install torch (CPU wheel: --index-url https://download.pytorch.org/whl/cpu)',
    "onnx": 'pip install "dtd[onnx]"', "onnx.defs": 'pip install "dtd[onnx]"',
    "onnxruntime": 'pip install onnxruntime (in "dtd[test]")',
    "onnxscript": "pip install onnxscript (torch's ONNX exporter)",
    "zennit": "pip install zennit", "captum": "pip install captum", "captum.attr": "pip install captum",
    "sklearn": 'pip install "dtd[kernels]"', "sklearn.svm": 'pip install "dtd[kernels]"',
    "matplotlib": 'pip install "dtd[plot]"', "distributed": 'pip install "dtd[dask]"',
    "nbclient": 'pip install "dtd[notebooks]"', "nbformat": 'pip install "dtd[notebooks]"',
    "ipykernel": 'pip install "dtd[notebooks]"', "numcodecs": 'pip install "dtd[datasets]"',
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skip for a missing optional package says what to install (``pytest -rs`` lists the skips)."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        path, line, reason = report.longrepr
        for module, how in INSTALLS.items():
            if f"could not import '{module}'" in reason:
                report.longrepr = (path, line, f"Skipped: could not import '{module}': {how}")
                break
