"""Suite-wide safety: no test touches the user's real studio home or the network."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True, scope="session")
def _isolated_studio_home(tmp_path_factory: pytest.TempPathFactory):
    """Point STUDIO_HOME at a temporary folder for the whole run unless a test sets its own."""
    home = tmp_path_factory.mktemp("studio-home")
    previous = os.environ.get("STUDIO_HOME")
    os.environ["STUDIO_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("STUDIO_HOME", None)
    else:
        os.environ["STUDIO_HOME"] = previous
