"""Every test runs offline: nothing may reach a model hub (subprocesses inherit this)."""

import pytest


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("PRUNEDISTILL_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
