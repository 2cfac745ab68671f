"""Server fixtures: one warmed Annotator shared by every app, apps with TestClient, and a real
uvicorn server on a free loopback port for the official client and the browser."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import skimage.data
from PIL import Image

from decaf.annotate import Annotator
from decaf.serve import ServeOptions, create_app

KEY = "test-key-123"


def png_b64(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="session")
def shared_annotator() -> Annotator:
    return Annotator().warm(["labels", "faces", "text", "safe-search", "objects"])


@pytest.fixture(scope="session")
def astronaut_b64() -> str:
    return png_b64(skimage.data.astronaut())


def make_client(annotator: Annotator, **options: object):  # noqa: ANN201
    from fastapi.testclient import TestClient

    opts = ServeOptions(**{"warm": False, **options})
    return TestClient(create_app(opts, annotator), base_url="http://127.0.0.1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn in a thread, stopped at the end of the test session."""

    def __init__(self, app: object) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="session")
def live(shared_annotator: Annotator) -> Iterator[LiveServer]:
    app = create_app(ServeOptions(api_key=KEY), shared_annotator)
    server = LiveServer(app)
    import httpx

    deadline = time.time() + 120
    while httpx.get(server.url + "/readyz").status_code != 200:
        if time.time() > deadline:
            raise RuntimeError("the test server never became ready")
        time.sleep(0.2)
    yield server
    server.stop()
