"""The FastAPI app behind ``decaf serve``: a thin layer over :mod:`decaf.annotate` and
:mod:`decaf.stylize` (no model logic here).

Every request that does model work runs in this app's thread pool, sized to the cores, after
passing admission control (:class:`~decaf.serve.work.Admission`): a full server answers 429
RESOURCE_EXHAUSTED at once. The event loop itself only parses and answers, so ``/healthz`` stays
quick under load.
"""

from __future__ import annotations

import asyncio
import base64
import io
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from decaf.annotate import Annotator, schema
from decaf.annotate.files import to_json
from decaf.core.errors import DecafError
from decaf.serve import stylize_api, wire
from decaf.serve.wire import ApiError, ImageRequest
from decaf.serve.work import Admission, Metrics, Operations, ServeOptions, elapsed

STATIC = files("decaf.serve") / "static"
_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


class State:
    """What one app holds: options, models, pool, admission, operations, metrics."""

    def __init__(self, opts: ServeOptions, annotator: Annotator | None) -> None:
        self.opts = opts
        self.annotator = annotator or Annotator(
            opts.classifier, opts.detector, max_pixels=opts.max_pixels
        )
        self.pool = ThreadPoolExecutor(opts.threads, thread_name_prefix="decaf-serve")
        self.admission = Admission(opts.threads + opts.queue)
        self.operations = Operations()
        self.metrics = Metrics()
        self.styles = stylize_api.Stylizers()
        self.ready = threading.Event()
        self.load_error: str | None = None

    def warm(self) -> None:
        try:
            if self.opts.warm:
                self.annotator.warm()
                self.styles.warm()
        except Exception as exc:  # reported by /readyz, never hidden
            self.load_error = f"{type(exc).__name__}: {exc}"
            return
        self.ready.set()

    async def run(self, fn: Callable[[], Any], deadline: float | None = None) -> Any:
        """``fn`` in the pool, after admission; 504 past the deadline (the slot stays taken
        until ``fn`` really ends)."""
        try:
            self.admission.take()
        except ApiError:
            self.metrics.rejected.inc()
            raise
        self.metrics.queue.inc()

        def job() -> Any:
            with self.admission.held():
                try:
                    return fn()
                finally:
                    self.metrics.queue.dec()

        future = asyncio.get_running_loop().run_in_executor(self.pool, job)
        try:
            return await asyncio.wait_for(future, deadline or self.opts.deadline_seconds)
        except TimeoutError:
            raise ApiError(
                504,
                f"The request took longer than its deadline of "
                f"{deadline or self.opts.deadline_seconds:g} s",
            ) from None


def create_app(opts: ServeOptions | None = None, annotator: Annotator | None = None) -> FastAPI:
    """The app for ``opts``; ``annotator`` lets tests share loaded models between apps."""
    opts = opts or ServeOptions()
    state = State(opts, annotator)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        threading.Thread(target=state.warm, name="decaf-warm", daemon=True).start()
        yield
        # the pool stays usable (an ASGI host may run the lifespan more than once); running
        # Gatys operations are cancelled so that the process can exit soon
        state.operations.cancel_all()

    app = FastAPI(
        title="decaf",
        version=_version(),
        lifespan=lifespan,
        description="Cloud Vision's images:annotate offline, and stylize.",
    )
    app.state.decaf = state
    if opts.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(opts.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )
    _guards(app, state)
    _annotate_routes(app, state)
    stylize_api.routes(app, state)
    _service_routes(app, state)
    return app


def _version() -> str:
    from decaf import __version__

    return __version__


def _guards(app: FastAPI, state: State) -> None:
    """Host check, API key, metrics and the Google error model, for every request."""
    names = state.opts.host_names()

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        start = time.perf_counter()
        try:
            _check_host(request, names)
            if request.url.path.startswith("/v1/"):
                _check_origin(request, state.opts.cors_origins)
                _check_key(request, state.opts.api_key)
            response = await call_next(request)
        except ApiError as exc:
            response = JSONResponse(exc.body(), status_code=exc.http)
        # the route's template, never the raw path: label values must stay few
        route = getattr(request.scope.get("route"), "path", "unmatched")
        state.metrics.requests.labels(route, str(response.status_code)).inc()
        state.metrics.latency.labels(route).observe(elapsed(start))
        return response

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.http)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            ApiError(exc.status_code, str(exc.detail)).body(), status_code=exc.status_code
        )

    @app.exception_handler(DecafError)
    async def decaf_error(_request: Request, exc: DecafError) -> JSONResponse:
        return JSONResponse(ApiError(400, str(exc)).body(), status_code=400)


def _check_host(request: Request, names: set[str]) -> None:
    host = request.headers.get("host", "")
    bare = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if bare not in names:
        raise ApiError(
            400,
            f"Host {host!r} is not served here (allowed: "
            f"{', '.join(sorted(names))}; add one with --allow-host)",
        )


def _check_origin(request: Request, allowed: tuple[str, ...]) -> None:
    """A foreign page can send a "simple" POST to loopback without a CORS preflight, blind but
    costly; so POSTs must be JSON (which needs a preflight), and an Origin, when a browser
    sends one, must be this server's own or one given with --cors-origin."""
    origin = request.headers.get("origin")
    if origin and origin not in allowed:
        own = urllib.parse.urlsplit(origin).netloc == request.headers.get("host", "")
        if not own:
            raise ApiError(403, f"Origin {origin!r} may not call this server (see --cors-origin)")
    if request.method == "POST":
        kind = request.headers.get("content-type", "application/json").split(";")[0].strip()
        if kind.lower() != "application/json":
            raise ApiError(400, f"Content-Type must be application/json, not {kind!r}")


def _check_key(request: Request, key: str | None) -> None:
    if key is None:
        return
    given = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    if not given:
        # 403, as Google answers a missing key (a 401 would make the official client try to
        # refresh its credentials instead of reporting the error)
        raise ApiError(403, "The request is missing a valid API key (x-goog-api-key or ?key=)")
    if not secrets.compare_digest(given.encode(), key.encode()):
        raise ApiError(403, "API key not valid. Please pass a valid API key.")


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The request body as a JSON object, counted as it streams: a body over ``limit`` bytes
    gets 413 before it is all read, however it is framed (Content-Length or chunked)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"Request payload size exceeds the limit: {limit:,} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"Request payload size exceeds the limit: {limit:,} bytes.")
        chunks.append(chunk)
    return wire.parse_json(b"".join(chunks))


def _annotate_routes(app: FastAPI, state: State) -> None:
    @app.post(
        "/v1/images:annotate",
        summary="Cloud Vision's BatchAnnotateImages",
        openapi_extra=wire.ANNOTATE_BODY,
    )
    async def images_annotate(request: Request) -> Response:
        body = await read_json(request, state.opts.max_body_bytes)
        items = wire.parse_batch(body, state.opts.max_images, state.opts.max_image_bytes)
        document = await state.run(lambda: {"responses": _annotate_all(state, items)})
        return Response(to_json(document), media_type="application/json")


def _annotate_all(state: State, items: list[ImageRequest]) -> list[dict[str, Any]]:
    """Responses in request order; the readable pictures go to the Annotator together, so its
    classifier and safe-search net run once over all of them."""
    out: list[dict[str, Any]] = [{} for _ in items]
    todo: list[tuple[int, Any]] = []
    for i, item in enumerate(items):
        if item.error is not None:
            out[i] = {"error": item.error}
            continue
        try:
            content = item.content if item.content is not None else _fetch(state.opts, item.uri)
        except DecafError as exc:
            out[i] = {"error": schema.status(schema.INVALID_ARGUMENT, str(exc))}
            continue
        todo.append((i, (content, item.features, item.context, None)))
    if todo:
        results = state.annotator.batch([r for _, r in todo], on_feature=state.metrics.feature,
                                        max_pixels=state.opts.max_pixels)  # fmt: skip
        for (i, _), response in zip(todo, results, strict=True):
            out[i] = response
    return out


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        raise urllib.error.URLError("the image URL redirects; give its final address")


def _fetch(opts: ServeOptions, uri: str | None) -> bytes:
    """An imageUri's bytes, only from the allowed hosts (no server-side request forgery)."""
    from decaf.core.errors import OptionError

    parts = urllib.parse.urlsplit(uri or "")
    if parts.scheme not in ("http", "https") or parts.hostname not in opts.uri_hosts:
        raise OptionError(
            f"image.source.imageUri {uri!r} is refused: this server fetches only "
            "from hosts given with --allow-uri-host; send image.content"
        )
    opener = urllib.request.build_opener(_NoRedirect)  # a redirect could leave the allow-list
    try:
        with opener.open(uri, timeout=10) as reply:
            data = reply.read(opts.max_image_bytes + 1)
    except OSError as exc:
        raise OptionError(f"We can not access the URL currently ({exc})") from None
    if len(data) > opts.max_image_bytes:
        raise OptionError(f"the image at {uri} is over {opts.max_image_bytes:,} bytes")
    return data


def _service_routes(app: FastAPI, state: State) -> None:
    @app.get("/healthz", summary="Alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Ready: every model loaded")
    async def readyz() -> JSONResponse:
        if state.ready.is_set():
            return JSONResponse({"status": "ready"})
        status = "failed: " + state.load_error if state.load_error else "loading"
        return JSONResponse({"status": status}, status_code=503)

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text())

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        kind = next((t for ext, t in _STATIC_TYPES.items() if name.endswith(ext)), None)
        shipped = {p.name for p in STATIC.iterdir()}
        if kind is None or name not in shipped:  # never a path from the request
            raise ApiError(404, f"/static/{name} not found")
        return Response((STATIC / name).read_bytes(), media_type=kind)


def png_base64(img: Any) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


ENV_OPTIONS = "DECAF_SERVE_OPTIONS"


def factory() -> FastAPI:
    """The app of a ``--workers N`` process: its options come from the parent, as JSON."""
    import json
    import os

    raw = json.loads(os.environ.get(ENV_OPTIONS, "{}"))
    tuples = ("allowed_hosts", "uri_hosts", "cors_origins")
    return create_app(ServeOptions(**{k: tuple(v) if k in tuples else v for k, v in raw.items()}))


def serve(opts: ServeOptions) -> None:
    """Run the server until Ctrl-C: one process, or ``opts.workers`` stateless processes
    sharing the port (each loads its own models)."""
    import dataclasses
    import json
    import os

    import uvicorn

    if opts.workers == 1:
        uvicorn.run(create_app(opts), host=opts.host, port=opts.port, log_level="info")
        return
    os.environ[ENV_OPTIONS] = json.dumps(dataclasses.asdict(opts))
    uvicorn.run("decaf.serve.app:factory", factory=True, host=opts.host, port=opts.port,
                workers=opts.workers, log_level="info")  # fmt: skip
