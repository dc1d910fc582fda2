import os
import tempfile

import numpy as np
import pytest

# Kernels and tuned records of the tests go to a fresh cache, never the user's.
os.environ["TECOMP_CACHE"] = tempfile.mkdtemp(prefix="tecomp-test-cache-")

import tecomp as ann


@pytest.fixture(autouse=True)
def fresh_network():
    """Every test starts from an empty default network."""
    ann.clear()
    yield
    ann.clear()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
