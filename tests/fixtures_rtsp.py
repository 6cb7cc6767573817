"""Pytest fixtures for a real RTSP server (tests/rtsp/server.py), registered in conftest.py.

tests/ is on sys.path under pytest (pytest puts the rootdir conftest's folder there), so the helper
imports as ``rtsp``.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from rtsp import VIDEOS, RtspServer


@pytest.fixture(scope="session")
def rtsp_server() -> Iterator[RtspServer]:
    """The three test videos, looping endlessly: ``rtsp_server.url("onebyone" | "parking" | "vtest")``."""
    with RtspServer(VIDEOS) as server:
        yield server
