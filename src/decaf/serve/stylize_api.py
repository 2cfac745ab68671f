"""``POST /v1/images:stylize`` (decaf's extension) and the long-running operations behind it.

Request: ``{"image": {"content": B64}, "style": "swirl" | null, "styleImage": {"content": B64},
"method": "fast" | "adain" | "wct" | "gatys", "size": 512, "alpha": 1.0, "steps": 200,
"preserveColor": "luminance" | "histogram" | null}``. ``fast``, ``adain`` and ``wct`` answer at once
with ``{"image": {"content": PNG_B64}, "width", "height", "method", "seconds"}``; ``gatys``
takes tens of seconds, so it answers with an Operation to poll at ``GET /v1/operations/ID``
and cancel with ``POST /v1/operations/ID:cancel`` (the best picture so far is kept as the
response, as the command line keeps it on Ctrl-C).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image

from decaf.annotate.annotator import Lazy
from decaf.core.errors import DecafError, OptionError
from decaf.core.images import load_image
from decaf.serve import wire
from decaf.serve.wire import ApiError, field_of

if TYPE_CHECKING:
    from decaf.serve.app import State

METHODS = ("fast", "adain", "wct", "gatys")
GATYS_MAX_SIDE = 1024  # a request may not hold a worker thread for many minutes


class _Cancelled(KeyboardInterrupt):
    """Raised in the Gatys callback when its operation is cancelled: the optimiser treats it
    as Ctrl-C and returns the best picture so far."""


class Stylizers:
    """The built-in feed-forward networks, loaded once per app."""

    def __init__(self) -> None:
        from decaf.stylize import FastStylizer
        from decaf.stylize.model import ARBITRARY

        self.fast = Lazy(lambda: FastStylizer(method="fast"))
        self.arbitrary = {m: Lazy(lambda m=m: FastStylizer(method=m)) for m in ARBITRARY}

    def fast_for(self, style: str | int) -> Any:
        """The built-in fast network that has ``style`` (the procedural or the paintings one),
        loaded once per process (``cached_stylizer`` is shared by threads)."""
        if isinstance(style, int):
            return self.fast.get()
        from decaf.stylize.files import cached_stylizer
        from decaf.stylize.predict import builtin_fast_for

        path = builtin_fast_for([style])
        if path == self.fast.get().path:
            return self.fast.get()
        return cached_stylizer(str(path), "fast")

    def fast_styles(self) -> list[str]:
        from decaf.stylize.predict import builtin_fast_models, bundle_styles

        return [n for p in builtin_fast_models() for n in bundle_styles(str(p))]

    def warm(self) -> None:
        """Load the networks and run each once, so the first request pays no set-up."""
        tiny = Image.new("RGB", (64, 64), (128, 128, 128))
        for name in self.fast_styles():
            self.fast_for(name)(tiny, name)
        for lazy in self.arbitrary.values():
            lazy.get()(tiny, style_images=[tiny])

    def styles(self) -> dict[str, Any]:
        """The style names each method takes (adain, wct and gatys draw the procedural styles;
        any painting goes in ``styleImage``)."""
        from decaf.stylize import BUILTIN_STYLES

        procedural = sorted(BUILTIN_STYLES)
        return {"fast": self.fast_styles(), "adain": procedural, "wct": procedural,
                "gatys": procedural, "methods": list(METHODS)}  # fmt: skip


def _picture(obj: Any, what: str, max_bytes: int, max_pixels: int) -> Image.Image:
    if not isinstance(obj, dict) or field_of(obj, "content") is None:
        raise OptionError(f'{what}: give {{"content": BASE64}}')
    data = wire.decode_base64(field_of(obj, "content"), max_bytes)
    return load_image(data, max_pixels=max_pixels, name=what)


def _style_name(body: dict[str, Any], known: Any, default: str | int) -> str | int:
    """The request's built-in style name, checked against ``known``. Why checked here: the
    stylize API also takes file paths for styles, and nothing from a request may be a path."""
    name = field_of(body, "style")
    if name is None or name == "":
        return default
    if not isinstance(name, str) or name not in known:
        raise OptionError(f"style {name!r} is not a built-in style ({', '.join(sorted(known))}); "
                          "send a painting as styleImage")  # fmt: skip
    return name


def _number(body: dict[str, Any], name: str, default: Any, kind: type) -> Any:
    value = field_of(body, name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OptionError(f"{name} must be a number")
    return kind(value)


def _feedforward(state: State, body: dict[str, Any], method: str) -> dict[str, Any]:
    opts = state.opts
    content = _picture(field_of(body, "image"), "image", opts.max_image_bytes, opts.max_pixels)
    size = _number(body, "size", 512, int)
    color = field_of(body, "preserveColor")
    start = time.perf_counter()
    if method == "fast":
        style = _style_name(body, state.styles.fast_styles(), 0)
        out = state.styles.fast_for(style)(content, style, size=size, preserve_color=color)
    else:
        style_img = field_of(body, "styleImage")
        if style_img is not None:
            style = _picture(style_img, "styleImage", opts.max_image_bytes, opts.max_pixels)
        else:
            from decaf.stylize import BUILTIN_STYLES, resolve_style

            style = resolve_style(_style_name(body, BUILTIN_STYLES, "swirl"), size=512)
        out = state.styles.arbitrary[method].get()(
            content,
            style_images=[style],
            size=size,
            alpha=_number(body, "alpha", 1.0, float),
            preserve_color=color,
        )
    return _result(out, method, time.perf_counter() - start)


def _result(img: Image.Image, method: str, seconds: float) -> dict[str, Any]:
    from decaf.serve.app import png_base64

    return {
        "image": {"content": png_base64(img)},
        "width": img.width,
        "height": img.height,
        "method": method,
        "seconds": round(seconds, 3),
    }


def _gatys_job(state: State, body: dict[str, Any]) -> Any:
    """Check the request now; return the function that runs it in the pool."""
    import decaf.stylize as stylize

    opts = state.opts
    content = _picture(field_of(body, "image"), "image", opts.max_image_bytes, opts.max_pixels)
    style_img = field_of(body, "styleImage")
    style: Any = (
        _picture(style_img, "styleImage", opts.max_image_bytes, opts.max_pixels)
        if style_img is not None
        else _style_name(body, stylize.BUILTIN_STYLES, "swirl")
    )
    size = _number(body, "size", 384, int)
    if not 16 <= size <= GATYS_MAX_SIDE:
        raise OptionError(f"size must be in 16..{GATYS_MAX_SIDE} for gatys, got {size}")
    steps = _number(body, "steps", 200, int)
    options = {"size": size, "steps": steps, "preserve_color": field_of(body, "preserveColor")}
    stylize.prepare(content, style, "gatys", **options)  # bad options fail here, as 400
    op = state.operations.new()

    def progress(p: Any) -> None:
        state.operations.update(op, progress=p.done / max(1, p.total))
        if op.cancel.is_set():
            raise _Cancelled

    def job() -> None:
        start = time.perf_counter()
        try:
            result = stylize.run(content, style, "gatys", callback=progress, **options)
        except (DecafError, Exception) as exc:  # the operation reports it; the server goes on
            state.operations.update(op, done=True, error={"code": 13, "message": str(exc)})
            return
        response = _result(result.image, "gatys", time.perf_counter() - start)
        if op.cancel.is_set():
            state.operations.update(
                op,
                done=True,
                response=response,
                error={"code": 1, "message": "Operation cancelled"},
            )
        else:
            state.operations.update(op, done=True, progress=1.0, response=response)

    return op, job


def routes(app: FastAPI, state: State) -> None:
    from decaf.serve.app import read_json

    @app.post(
        "/v1/images:stylize",
        summary="Stylize a picture (decaf's extension)",
        openapi_extra=wire.STYLIZE_BODY,
    )
    async def images_stylize(request: Request) -> JSONResponse:
        body = await read_json(request, state.opts.max_body_bytes)
        method = field_of(body, "method", "fast")
        if method not in METHODS:
            raise ApiError(400, f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if method != "gatys":
            return JSONResponse(await state.run(lambda: _feedforward(state, body, method)))
        state.admission.take()  # the operation holds a worker: it counts against the limit
        try:
            op, job = _gatys_job(state, body)
        except BaseException:
            state.admission.release()
            raise

        def held() -> None:
            with state.admission.held():
                job()

        state.pool.submit(held)
        return JSONResponse(op.to_json())

    @app.get("/v1/styles", summary="Built-in styles per method")
    async def styles() -> JSONResponse:
        return JSONResponse(await state.run(state.styles.styles))

    @app.get("/v1/operations/{op_id}", summary="Poll a long-running operation")
    async def get_operation(op_id: str) -> JSONResponse:
        return JSONResponse(state.operations.get(f"operations/{op_id}").to_json())

    @app.post("/v1/operations/{op_id}", summary="ID:cancel cancels the operation")
    async def cancel_operation(op_id: str) -> JSONResponse:
        op_id, sep, verb = op_id.partition(":")
        if not sep or verb != "cancel":
            raise ApiError(404, "use POST /v1/operations/ID:cancel")
        op = state.operations.get(f"operations/{op_id}")
        op.cancel.set()
        return JSONResponse({})
