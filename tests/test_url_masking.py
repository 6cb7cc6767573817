from __future__ import annotations

import pytest

from analytics.config import mask_text, mask_url


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


def test_credentials_inside_error_text_are_masked() -> None:
    text = "Server returned 401 Unauthorized: 'rtsp://intruder:guess@127.0.0.1:8554/cam' and http://a:b@h/x"
    assert mask_text(text) == "Server returned 401 Unauthorized: 'rtsp://***:***@127.0.0.1:8554/cam' and http://***:***@h/x"
