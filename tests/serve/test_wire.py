"""Cloud Vision's request JSON as the official client and people write it."""

from __future__ import annotations

import base64

import pytest

from decaf.serve.wire import ApiError, decode_base64, parse_batch, parse_json

PNG = base64.b64encode(b"\x89PNG fake").decode()


def test_camel_and_snake_case_names_and_integer_enums() -> None:
    confidence = {"enable_text_detection_confidence_score": True}
    body = {"requests": [
        {"image": {"content": PNG}, "features": [{"type": 4, "maxResults": 3}],
         "imageContext": {"cropHintsParams": {"aspectRatios": [1.5]}}},
        {"image": {"content": PNG}, "features": [{"type": "FACE_DETECTION", "max_results": 2}],
         "image_context": {"language_hints": ["en"],
                           "text_detection_params": confidence}},
    ]}  # fmt: skip
    a, b = parse_batch(body, 16, 1 << 20)
    assert a.error is None and a.content == b"\x89PNG fake"
    assert (a.features[0].type, a.features[0].max_results) == ("LABEL_DETECTION", 3)
    assert a.context.aspect_ratios == (1.5,)
    assert (b.features[0].type, b.features[0].max_results) == ("FACE_DETECTION", 2)
    assert b.context.language_hints == ("en",) and b.context.text_confidence


def test_bad_image_requests_become_that_images_error() -> None:
    good = {"image": {"content": PNG}, "features": [{"type": 4}]}
    bad = [
        {"image": {"content": "@@@"}, "features": [{"type": 4}]},  # protobuf would accept this
        {"image": {"content": PNG}, "features": [{"type": "NOT_A_FEATURE"}]},
        {"image": {"content": PNG}, "features": [{"type": 0}]},
        {"image": {"content": PNG}, "features": []},
        {"image": {}, "features": [{"type": 4}]},
        "not an object",
    ]
    parsed = parse_batch({"requests": [good, *bad]}, 16, 1 << 20)
    assert parsed[0].error is None
    for p in parsed[1:]:
        assert p.error is not None and p.error["code"] == 3 and p.error["message"]


def test_uri_is_kept_for_the_server_to_judge() -> None:
    item = {"image": {"source": {"imageUri": "http://169.254.169.254/x"}},
            "features": [{"type": 4}]}  # fmt: skip
    (p,) = parse_batch({"requests": [item]}, 16, 1 << 20)
    assert p.uri == "http://169.254.169.254/x" and p.content is None


def test_envelope_errors_are_whole_call() -> None:
    with pytest.raises(ApiError) as e:
        parse_batch({"requests": []}, 16, 1 << 20)
    assert e.value.http == 400 and e.value.body()["error"]["status"] == "INVALID_ARGUMENT"
    with pytest.raises(ApiError, match="At most 16"):
        parse_batch({"requests": [{}] * 17}, 16, 1 << 20)
    with pytest.raises(ApiError, match="Invalid JSON"):
        parse_json(b"{nope")
    with pytest.raises(ApiError):
        parse_json(b"[1, 2]")


def test_base64_is_strict_and_bounded() -> None:
    assert decode_base64(base64.urlsafe_b64encode(b"\xfb\xff").decode(), 10) == b"\xfb\xff"
    assert decode_base64("AAEC", 10) == b"\x00\x01\x02"
    from decaf.core.errors import OptionError

    with pytest.raises(OptionError, match="not valid base64"):
        decode_base64("AA!C", 10)
    with pytest.raises(OptionError, match="over the limit"):
        decode_base64(base64.b64encode(b"x" * 100).decode(), 10)
