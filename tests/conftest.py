import os
import tempfile

import numpy as np
import pytest

# Kernels and tuned records of the tests go to a fresh cache, never the user's; the workers
# of one `pytest -n` run share it (writes are atomic), so each kernel is built once per run.
RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID")
if RUN is None:
    os.environ["TECOMP_CACHE"] = tempfile.mkdtemp(prefix="tecomp-test-cache-")
else:
    os.environ["TECOMP_CACHE"] = os.path.join(tempfile.gettempdir(), f"tecomp-test-cache-{RUN}")

import tecomp as ann  # noqa: E402 - after TECOMP_CACHE is set


@pytest.fixture(autouse=True)
def fresh_network():
    """Every test starts from an empty default network."""
    ann.clear()
    yield
    ann.clear()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
