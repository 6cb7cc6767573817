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


@pytest.mark.parametrize(
    "name",
    ["password", "passwd", "pwd", "PASS", "token", "access_token", "auth", "secret", "client_secret", "key", "apikey",
     "api_key", "signature", "sig", "X-Amz-Signature", "X-Amz-Credential", "session", "sessionid", "jwt",
     "pass%77ord"],  # a percent-encoded name is the same name to the server
)
def test_every_secret_looking_query_value_is_masked_in_urls_and_in_error_text(name: str) -> None:
    url = f"rtsp://cam.example/live?channel=1&{name}=Sup3r-secret&res=hd"

    masked = mask_url(url)
    in_text = mask_text(f"Connection to '{url}' failed: 401")

    assert masked == f"rtsp://cam.example/live?channel=1&{name}=***&res=hd"
    assert "Sup3r-secret" not in in_text
    assert in_text == f"Connection to '{masked}' failed: 401"


def test_secrets_in_a_fragment_and_several_urls_in_one_text_are_masked() -> None:
    assert mask_url("https://cam/x#access_token=abc&view=1") == "https://cam/x#access_token=***&view=1"
    text = "tried http://a/x?token=one and rtsp://u:p@b/y?password=two;key=three then gave up"
    assert mask_text(text) == "tried http://a/x?token=*** and rtsp://***:***@b/y?password=***;key=*** then gave up"


def test_a_masked_url_sent_back_gets_the_stored_secrets_again() -> None:
    from analytics.config import unmask_url

    stored = "rtsp://cam/live?user=admin&password=one&token=two&channel=1"

    assert unmask_url(mask_url(stored), stored) == stored
    assert unmask_url("rtsp://cam/main?password=***&token=new", stored) == "rtsp://cam/main?password=one&token=new"
    assert unmask_url("rtsp://cam/live?password=***", "rtsp://cam/live") == "rtsp://cam/live?password=***"
