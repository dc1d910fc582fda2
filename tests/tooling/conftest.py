"""Every test of this folder (the tooling wing: benchmark, notebooks, demo, command lines)
carries the `tooling` marker, so the core's tests run alone with
-m 'not tooling and not slow' (a -m given on the command line replaces the 'not slow' of
the configuration)."""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.tooling)
