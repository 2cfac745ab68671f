"""``decaf serve``: the REST server (Cloud Vision's images:annotate, stylize) and its web page."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from decaf.cli.common import ClassifierOpt, DetectorOpt, split_list


def serve_command(
    host: Annotated[str, typer.Option(help="Address to bind (loopback unless told).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    workers: Annotated[int, typer.Option(help="Processes; each loads its own models.")] = 1,
    classifier: ClassifierOpt = None,
    detector: DetectorOpt = None,
    api_key: Annotated[
        str | None,
        typer.Option(help="Require this key (x-goog-api-key or ?key=); or DECAF_API_KEY."),
    ] = None,
    allow_host: Annotated[
        str | None, typer.Option(help="Host names to answer besides loopback, comma-separated.")
    ] = None,
    allow_uri_host: Annotated[
        str | None, typer.Option(help="Hosts image.source.imageUri may be fetched from.")
    ] = None,
    cors_origin: Annotated[
        str | None, typer.Option(help="Origins allowed by CORS (off unless given).")
    ] = None,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body.")] = 10.0,
    max_image_mb: Annotated[float, typer.Option(help="Largest picture.")] = 20.0,
    max_megapixels: Annotated[float, typer.Option(help="Largest picture, in megapixels.")] = 75.0,
    queue: Annotated[int, typer.Option(help="Requests that may wait; more get 429 at once.")] = 16,
    deadline: Annotated[float, typer.Option(help="Seconds before a request gets 504.")] = 60.0,
) -> None:
    """Serve Cloud Vision's images:annotate, decaf's images:stylize and a web page at /.

    Examples:

      decaf serve                                   # http://127.0.0.1:8080/ (docs at /docs)

      DECAF_API_KEY=secret decaf serve --port 9000 --detector det.pt

      decaf serve --host 0.0.0.0 --allow-host vision.internal --workers 2
    """
    from decaf.core.errors import OptionError
    from decaf.serve.app import serve
    from decaf.serve.work import MB, ServeOptions

    for name, value in (("--max-body-mb", max_body_mb), ("--max-image-mb", max_image_mb),
                        ("--max-megapixels", max_megapixels)):  # fmt: skip
        if not value > 0:
            raise OptionError(f"{name} must be a positive number, got {value}")
    opts = ServeOptions(
        host=host, port=port, workers=workers,
        classifier=str(classifier) if classifier else None,
        detector=str(detector) if detector else None,
        api_key=api_key or os.environ.get("DECAF_API_KEY") or None,
        allowed_hosts=tuple(split_list(allow_host, str, "--allow-host") or ()),
        uri_hosts=tuple(split_list(allow_uri_host, str, "--allow-uri-host") or ()),
        cors_origins=tuple(split_list(cors_origin, str, "--cors-origin") or ()),
        max_body_bytes=int(max_body_mb * MB), max_image_bytes=int(max_image_mb * MB),
        max_pixels=int(max_megapixels * 1e6), queue=queue, deadline_seconds=deadline,
    )  # fmt: skip
    serve(opts)
