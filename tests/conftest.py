"""Shared fixtures. Tests never touch the user's real cache: GREENKIT_CACHE -> tmp."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GREENKIT_CACHE", str(tmp_path_factory.mktemp("greenkit-cache")))
    mp.setenv("GREENKIT_LANG", "en")  # tests read English messages whatever the machine's locale (zh_CN.UTF-8...)
    yield
    mp.undo()
