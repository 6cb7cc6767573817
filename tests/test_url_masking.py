from __future__ import annotations

import pytest

from analytics.config import mask_url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("rtsp://admin:secret@10.0.0.1:554/live", "rtsp://***:***@10.0.0.1:554/live"),
        ("rtsp://10.0.0.1/live", "rtsp://10.0.0.1/live"),
        ("http://cam/video.mjpg?user=admin&password=secret&res=hd", "http://cam/video.mjpg?user=admin&password=***&res=hd"),
        ("https://cam/x?token=abc", "https://cam/x?token=***"),
    ],
)
def test_credentials_never_survive_masking(url: str, masked: str) -> None:
    assert mask_url(url) == masked
