import numpy as np
import pytest

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
