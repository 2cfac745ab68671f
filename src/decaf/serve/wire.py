"""Cloud Vision's wire format: parsing ``BatchAnnotateImagesRequest`` JSON, Google's error model.

Accepts what the official client and hand-written callers send: camelCase and snake_case field
names, feature types as names or integers, standard or URL-safe base64. Two kinds of failure,
as Cloud Vision has them: a bad *envelope* (not JSON, no ``requests``, more than 16 images) is a
whole-call :class:`ApiError` with an HTTP status; a bad *image request* (invalid base64, an
unknown feature, a refused URL) becomes that image's ``error`` and the others go on.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from decaf.annotate import schema
from decaf.annotate.schema import Feature, ImageContext
from decaf.core.errors import OptionError

#: google.rpc.Code names of the HTTP statuses the server answers with.
STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


_IMAGE = {
    "type": "object",
    "properties": {
        "content": {"type": "string", "description": "base64 of the picture file"},
        "source": {"type": "object", "properties": {"imageUri": {"type": "string"}}},
    },
}


def _json_body(body: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body is ``body`` (a JSON schema)."""
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": body}}}}  # fmt: skip


_FEATURE = {
    "type": "object",
    "properties": {
        "type": {
            "anyOf": [{"type": "string", "enum": list(schema.FEATURE_NUMBERS)}, {"type": "integer"}]
        },  # fmt: skip
        "maxResults": {"type": "integer"},
        "model": {"type": "string"},
    },
}
_REQUEST = {
    "type": "object",
    "properties": {
        "image": _IMAGE,
        "features": {"type": "array", "items": _FEATURE},
        "imageContext": {"type": "object"},
    },
}
#: OpenAPI body of images:annotate (the handler parses the raw JSON itself, so that both name
#: styles and integer enums are accepted; this schema documents it and feeds schemathesis).
ANNOTATE_BODY = _json_body({
    "type": "object",
    "required": ["requests"],
    "properties": {"requests": {"type": "array", "maxItems": 16, "items": _REQUEST}},
})  # fmt: skip
#: OpenAPI body of images:stylize.
STYLIZE_BODY = _json_body({
    "type": "object",
    "required": ["image"],
    "properties": {
        "image": _IMAGE,
        "styleImage": _IMAGE,
        "style": {"type": "string"},
        "method": {"type": "string", "enum": ["fast", "adain", "wct", "gatys"]},
        "size": {"type": "integer"},
        "alpha": {"type": "number"},
        "steps": {"type": "integer"},
        "preserveColor": {"type": "string", "enum": ["luminance", "histogram"]},
    },
})  # fmt: skip


class ApiError(Exception):
    """A whole-call failure, answered as ``{"error": {code, message, status, details}}``."""

    def __init__(self, http: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.http = http
        self.status = status or STATUS.get(http, "UNKNOWN")

    def body(self) -> dict[str, Any]:
        return {
            "error": {"code": self.http, "message": str(self), "status": self.status, "details": []}
        }


@dataclass
class ImageRequest:
    """One parsed ``AnnotateImageRequest``: bytes to read, or the error to answer with."""

    content: bytes | None = None
    uri: str | None = None  #: image.source.imageUri, fetched only from allowed hosts
    features: list[Feature] = field(default_factory=list)
    context: ImageContext = field(default_factory=ImageContext)
    error: dict[str, Any] | None = None


def field_of(obj: dict[str, Any], camel: str, default: Any = None) -> Any:
    """``obj[camel]`` or its snake_case twin (protobuf's JSON parser accepts both)."""
    if camel in obj:
        return obj[camel]
    snake = re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()
    return obj.get(snake, default)


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"Invalid JSON payload received. {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid JSON payload received: expected an object")
    return body


def decode_base64(text: Any, max_bytes: int) -> bytes:
    """Strict base64 (standard or URL-safe; protobuf's own parser lets invalid text through)."""
    if not isinstance(text, str):
        raise OptionError("image.content must be a base64 string")
    if len(text) > max_bytes * 4 // 3 + 8:
        raise OptionError(f"the image is over the limit of {max_bytes:,} bytes")
    s = text.strip().replace("-", "+").replace("_", "/")
    s += "=" * (-len(s) % 4)
    try:
        data = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise OptionError("image.content is not valid base64") from None
    if len(data) > max_bytes:
        raise OptionError(f"the image is {len(data):,} bytes, over the limit of {max_bytes:,}")
    return data


def parse_batch(body: dict[str, Any], max_images: int, max_bytes: int) -> list[ImageRequest]:
    """The image requests of a ``BatchAnnotateImagesRequest``, in order."""
    requests = field_of(body, "requests")
    if not isinstance(requests, list) or not requests:
        raise ApiError(400, "requests: give a non-empty list of AnnotateImageRequest")
    if len(requests) > max_images:
        raise ApiError(
            400, f"At most {max_images} images may be annotated in one call, got {len(requests)}"
        )
    return [_one(r, max_bytes) for r in requests]


def _one(item: Any, max_bytes: int) -> ImageRequest:
    try:
        if not isinstance(item, dict):
            raise OptionError("each request must be an object")
        content, uri = _content(field_of(item, "image"), max_bytes)
        return ImageRequest(
            content,
            uri,
            _features(field_of(item, "features")),
            _context(field_of(item, "imageContext") or {}),
        )
    except (OptionError, TypeError, ValueError) as exc:
        return ImageRequest(error=schema.status(schema.INVALID_ARGUMENT, str(exc)))


def _content(image: Any, max_bytes: int) -> tuple[bytes | None, str | None]:
    """The bytes of ``image.content`` (which wins, as in Cloud Vision) or its source URI."""
    if not isinstance(image, dict):
        raise OptionError('image: give {"content": BASE64}')
    content = field_of(image, "content")
    if content is not None:
        return decode_base64(content, max_bytes), None
    source = field_of(image, "source") or {}
    uri = (
        (field_of(source, "imageUri") or field_of(source, "gcsImageUri"))
        if isinstance(source, dict)
        else None
    )
    if isinstance(uri, str) and uri:
        return None, uri
    raise OptionError("image has no content")


def _features(raw: Any) -> list[Feature]:
    if not isinstance(raw, list) or not raw:
        raise OptionError('features: give at least one {"type": ...}')
    out = []
    for f in raw:
        if not isinstance(f, dict):
            raise OptionError("each feature must be an object")
        kind = field_of(f, "type", 0)
        if kind in (0, "TYPE_UNSPECIFIED"):
            raise OptionError("feature type is unspecified")
        n = field_of(f, "maxResults", schema.DEFAULT_MAX_RESULTS)
        if isinstance(n, bool) or not isinstance(n, int | str):
            raise OptionError("maxResults must be a whole number")
        n = int(n) or schema.DEFAULT_MAX_RESULTS  # proto3: 0 means unset
        out.append(
            Feature(schema.feature_name(kind), n, str(field_of(f, "model", "") or "builtin/stable"))
        )
    return out


def _context(ctx: Any) -> ImageContext:
    if not isinstance(ctx, dict):
        raise OptionError("imageContext must be an object")
    crop = field_of(ctx, "cropHintsParams") or {}
    ratios = field_of(crop, "aspectRatios") or [] if isinstance(crop, dict) else []
    text = field_of(ctx, "textDetectionParams") or {}
    score = (
        bool(field_of(text, "enableTextDetectionConfidenceScore", False))
        if isinstance(text, dict)
        else False
    )
    hints = field_of(ctx, "languageHints") or []
    if not isinstance(ratios, list) or not isinstance(hints, list):
        raise OptionError("aspectRatios and languageHints must be lists")
    return ImageContext(tuple(ratios[: schema.MAX_ASPECT_RATIOS]), tuple(hints), score)
