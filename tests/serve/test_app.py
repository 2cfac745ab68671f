"""The REST server in-process: annotate, limits, key, host check, readiness, metrics,
overload, deadlines, stylize and its operations, the page's files."""

from __future__ import annotations

import base64
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import skimage.data
from PIL import Image

from decaf.annotate import Annotator
from decaf.serve import ServeOptions, create_app
from tests.serve.conftest import KEY, LiveServer, make_client, png_b64


def _req(content: str, *types: object) -> dict:
    return {"image": {"content": content}, "features": [{"type": t} for t in types]}


def test_annotate_good_and_bad_pictures_side_by_side(shared_annotator, astronaut_b64) -> None:
    with make_client(shared_annotator) as c:
        junk = base64.b64encode(b"not a picture").decode()
        r = c.post("/v1/images:annotate?%24alt=json%3Benum-encoding%3Dint", json={"requests": [
            _req(astronaut_b64, 4, "FACE_DETECTION"), _req(junk, 4), _req("@@", 4),
            _req(astronaut_b64, "LANDMARK_DETECTION", 4)]})  # fmt: skip
        assert r.status_code == 200
        good, bad, b64, landmark = r.json()["responses"]
        assert good["labelAnnotations"] and good["faceAnnotations"] and "error" not in good
        assert bad["error"]["code"] == 3 and "Bad image data" in bad["error"]["message"]
        assert "base64" in b64["error"]["message"]
        assert landmark["labelAnnotations"] and landmark["error"]["code"] == 12


def test_body_limit_413_for_declared_and_chunked_bodies(shared_annotator, astronaut_b64) -> None:
    with make_client(shared_annotator, max_body_bytes=1000) as c:
        r = c.post("/v1/images:annotate", json={"requests": [_req(astronaut_b64, 4)]})
        assert r.status_code == 413 and r.json()["error"]["code"] == 413

        def chunks():  # no Content-Length: the server must count as it reads
            for _ in range(10):
                yield b"x" * 500

        r = c.post("/v1/images:annotate", content=chunks())
        assert r.status_code == 413


def test_picture_limits_are_per_image(shared_annotator) -> None:
    import numpy as np

    big = png_b64(skimage.data.astronaut())  # ~500 kB
    flat = png_b64(np.full((150, 150, 3), 90, np.uint8))  # tiny file, 22 500 pixels
    with make_client(shared_annotator, max_image_bytes=20_000, max_pixels=10_000) as c:
        r = c.post("/v1/images:annotate", json={"requests": [
            _req(big, 4), _req(png_b64(skimage.data.astronaut()[:50, :50]), 4),
            _req(flat, 4)]}).json()  # fmt: skip
        over_bytes, fine, over_pixels = r["responses"]
        assert "over the limit" in over_bytes["error"]["message"]
        assert "labelAnnotations" in fine
        assert "pixels" in over_pixels["error"]["message"]


def test_api_key_header_or_query_and_host_check(shared_annotator, astronaut_b64) -> None:
    body = {"requests": [_req(astronaut_b64, 4)]}
    with make_client(shared_annotator, api_key=KEY) as c:
        missing = c.post("/v1/images:annotate", json=body)
        assert missing.status_code == 403 and "missing" in missing.json()["error"]["message"]
        wrong = c.post("/v1/images:annotate", json=body, headers={"x-goog-api-key": "nope"})
        assert wrong.status_code == 403 and wrong.json()["error"]["status"] == "PERMISSION_DENIED"
        assert c.post("/v1/images:annotate", json=body, headers={"x-goog-api-key": KEY}).is_success
        assert c.post(f"/v1/images:annotate?key={KEY}", json=body).is_success
        assert c.get("/healthz").is_success  # probes need no key
        rebinding = c.get("/healthz", headers={"host": "attacker.example:8080"})
        assert (
            rebinding.status_code == 400
            and "attacker.example" in rebinding.json()["error"]["message"]
        )
    with make_client(shared_annotator, allowed_hosts=("vision.internal",)) as c:
        assert c.get("/healthz", headers={"host": "vision.internal:8080"}).is_success


def test_image_uri_refused_unless_its_host_is_allowed(shared_annotator) -> None:
    item = {"image": {"source": {"imageUri": "http://169.254.169.254/latest/meta-data"}},
            "features": [{"type": 4}]}  # fmt: skip
    with make_client(shared_annotator) as c:
        r = c.post("/v1/images:annotate", json={"requests": [item]}).json()["responses"][0]
        assert "refused" in r["error"]["message"]


def test_readiness_waits_for_the_models(shared_annotator) -> None:
    gate = threading.Event()
    app = create_app(ServeOptions(warm=True), shared_annotator)
    state = app.state.decaf
    original = state.styles.warm
    state.styles.warm = lambda: (gate.wait(30), original())
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1") as c:
        assert c.get("/readyz").status_code == 503
        assert c.get("/healthz").status_code == 200
        gate.set()
        deadline = time.time() + 60
        while c.get("/readyz").status_code != 200:
            assert time.time() < deadline
            time.sleep(0.1)


def test_metrics_count_requests_and_features(shared_annotator, astronaut_b64) -> None:
    with make_client(shared_annotator) as c:
        c.post("/v1/images:annotate", json={"requests": [_req(astronaut_b64, 4, 1)]})
        text = c.get("/metrics").text
        assert 'decaf_requests_total{code="200",route="/v1/images:annotate"} 1.0' in text
        assert 'decaf_feature_seconds_count{feature="LABEL_DETECTION"} 1.0' in text
        assert "decaf_requests_in_progress 0.0" in text


class _Slow(Annotator):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def batch(self, requests: list, *args: object, **kwargs: object) -> list[dict]:
        time.sleep(self.seconds)
        return [{} for _ in requests]


def test_a_full_server_answers_429_at_once_and_stays_up() -> None:
    app = create_app(ServeOptions(warm=False, threads=1, queue=1), _Slow(1.5))
    server = LiveServer(app)
    body = {"requests": [_req(png_b64(skimage.data.astronaut()[:32, :32]), 4)]}
    try:
        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(httpx.post, server.url + "/v1/images:annotate", json=body,
                                   timeout=30) for _ in range(6)]  # fmt: skip
            codes = sorted(f.result().status_code for f in futures)
        assert codes.count(200) == 2 and codes.count(429) == 4, codes
        assert httpx.get(server.url + "/healthz").status_code == 200
        refused = httpx.post(server.url + "/v1/images:annotate", json=body, timeout=30)
        assert refused.status_code == 200  # free again once the work ended
    finally:
        server.stop()


def test_deadline_gives_504(astronaut_b64) -> None:
    with make_client(_Slow(2.0), deadline_seconds=0.3) as c:
        r = c.post("/v1/images:annotate", json={"requests": [_req(astronaut_b64, 4)]})
        assert r.status_code == 504 and r.json()["error"]["status"] == "DEADLINE_EXCEEDED"


def test_stylize_fast_adain_and_wct_return_pictures(shared_annotator) -> None:
    photo = png_b64(skimage.data.chelsea())
    with make_client(shared_annotator) as c:
        styles = c.get("/v1/styles").json()
        assert "mosaic" in styles["fast"] and "gatys" in styles["methods"]
        assert "starry_night" in styles["fast"]  # the built-in painting network's styles too
        for body in ({"method": "fast", "style": "mosaic"},
                     {"method": "fast", "style": "starry_night"},
                     {"method": "adain", "styleImage": {"content": png_b64(skimage.data.coffee())},
                      "alpha": 0.5},
                     {"method": "wct", "styleImage": {"content": png_b64(skimage.data.coffee())}},
                     {"method": "wct", "style": "hatching"}):  # fmt: skip
            r = c.post(
                "/v1/images:stylize", json={"image": {"content": photo}, "size": 128, **body}
            )
            assert r.status_code == 200, r.text
            img = Image.open(io.BytesIO(base64.b64decode(r.json()["image"]["content"])))
            assert max(img.size) == 128
        bad = c.post("/v1/images:stylize", json={"image": {"content": photo}, "method": "x"})
        assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
        bad = c.post("/v1/images:stylize", json={"image": {"content": photo}, "style": "nope"})
        assert bad.status_code == 400 and "nope" in bad.json()["error"]["message"]
        for method in ("adain", "wct", "gatys"):  # style names are never server paths
            r = c.post("/v1/images:stylize", json={"image": {"content": photo}, "method": method,
                                                   "style": "/etc/hostname"})  # fmt: skip
            assert r.status_code == 400 and "not a built-in style" in r.json()["error"]["message"]


def test_gatys_operation_polls_and_cancels(shared_annotator) -> None:
    photo = png_b64(skimage.data.chelsea()[::4, ::4])
    with make_client(shared_annotator) as c:
        body = {"image": {"content": photo}, "method": "gatys", "style": "mosaic", "size": 64}
        op = c.post("/v1/images:stylize", json={**body, "steps": 20}).json()
        assert op["name"].startswith("operations/") and op["done"] is False
        while not op["done"]:
            time.sleep(0.2)
            op = c.get(f"/v1/{op['name']}").json()
        assert op["metadata"]["state"] == "DONE" and op["metadata"]["progress"] == 1.0
        assert op["response"]["width"] == 64
        long = c.post("/v1/images:stylize", json={**body, "steps": 100000}).json()
        time.sleep(1.0)
        assert c.post(f"/v1/{long['name']}:cancel").status_code == 200
        deadline = time.time() + 60
        while not long["done"]:
            assert time.time() < deadline
            time.sleep(0.2)
            long = c.get(f"/v1/{long['name']}").json()
        assert long["metadata"]["state"] == "CANCELLED" and long["error"]["code"] == 1
        assert long["response"]["image"]["content"]  # the best picture so far is kept
        missing = c.get("/v1/operations/0123")
        assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"


def test_page_files_cors_and_unknown_paths(shared_annotator) -> None:
    with make_client(shared_annotator) as c:
        page = c.get("/")
        assert page.status_code == 200 and "/static/app.js" in page.text
        assert c.get("/static/app.js").headers["content-type"].startswith("text/javascript")
        for path in ("/static/..%2Fapp.py", "/static/wire.py", "/static/%2e%2e"):
            assert c.get(path).status_code == 404
        r = c.get("/healthz", headers={"origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers
        assert c.get("/openapi.json").json()["paths"]["/v1/images:annotate"]
    with make_client(shared_annotator, cors_origins=("http://app.example",)) as c:
        r = c.get("/healthz", headers={"origin": "http://app.example"})
        assert r.headers["access-control-allow-origin"] == "http://app.example"


def test_options_check_themselves() -> None:
    from decaf.core.errors import OptionError

    for bad in ({"port": 70000}, {"queue": -1}, {"deadline_seconds": 0}, {"threads": 0}):
        with pytest.raises(OptionError):
            ServeOptions(**bad)


def test_foreign_pages_cannot_post(shared_annotator, astronaut_b64) -> None:
    body = {"requests": [_req(astronaut_b64, 4)]}
    with make_client(shared_annotator) as c:
        foreign = c.post(
            "/v1/images:annotate", json=body, headers={"origin": "http://evil.example"}
        )
        assert foreign.status_code == 403 and "evil.example" in foreign.json()["error"]["message"]
        own = c.post("/v1/images:annotate", json=body, headers={"origin": "http://127.0.0.1"})
        assert own.status_code == 200
        import json

        simple = c.post("/v1/images:annotate", content=json.dumps(body),
                        headers={"content-type": "text/plain"})  # fmt: skip
        assert simple.status_code == 400 and "application/json" in simple.json()["error"]["message"]
        c.post("/v1/nowhere/1", json={})
        c.post("/v1/nowhere/2", json={})
        assert 'route="unmatched"' in c.get("/metrics").text  # raw paths never become labels


def test_image_uri_from_an_allowed_host_and_no_redirects(shared_annotator) -> None:
    """A local HTTP server stands in for an allowed host: its picture is fetched, and its
    redirect to another host is not followed."""
    import http.server

    png = base64.b64decode(png_b64(skimage.data.chelsea()))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/cat.png":
                self.send_response(200)
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                self.wfile.write(png)
            else:
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest")
                self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    items = [{"image": {"source": {"imageUri": base + path}}, "features": [{"type": 4}]}
             for path in ("/cat.png", "/elsewhere")]  # fmt: skip
    try:
        with make_client(shared_annotator, uri_hosts=("127.0.0.1",)) as c:
            cat, moved = c.post("/v1/images:annotate", json={"requests": items}).json()["responses"]
        assert cat["labelAnnotations"][0]["description"].endswith("cat")
        assert "redirects" in moved["error"]["message"]
    finally:
        httpd.shutdown()
