"""schemathesis against the server's own OpenAPI schema: whatever it sends, no 5xx, and every
error is in Google's error shape."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from decaf.annotate import Annotator  # noqa: E402
from decaf.serve import ServeOptions, create_app  # noqa: E402

APP = create_app(ServeOptions(warm=False, allowed_hosts=("testserver",)), Annotator())
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_google_errors(case) -> None:  # noqa: ANN001
    response = case.call()
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert {"code", "message", "status", "details"} <= set(error)
        assert error["code"] == response.status_code
