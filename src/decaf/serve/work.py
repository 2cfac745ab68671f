"""The server's moving parts, one set per app (nothing process-global): options, admission
control, long-running operations and Prometheus metrics."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from decaf.annotate import schema
from decaf.core import checks
from decaf.serve.wire import ApiError

MB = 1 << 20


@dataclass(frozen=True)
class ServeOptions:
    """Everything ``decaf serve`` can be told; each limit answers with its own error."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    classifier: str | None = None
    detector: str | None = None
    api_key: str | None = None
    allowed_hosts: tuple[str, ...] = ()  #: Host header names accepted besides loopback's
    uri_hosts: tuple[str, ...] = ()  #: hosts image.source.imageUri may be fetched from
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 10 * MB
    max_image_bytes: int = 20 * MB
    max_pixels: int = schema.MAX_PIXELS
    max_images: int = 16
    deadline_seconds: float = 60.0
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    queue: int = 16  #: requests that may wait for a thread; one more is refused with 429
    warm: bool = True  #: load every model at start-up (``/readyz`` waits for it)

    def __post_init__(self) -> None:
        checks.in_range("port", self.port, 0, 65535)
        for name in (
            "workers",
            "max_body_bytes",
            "max_image_bytes",
            "max_pixels",
            "max_images",
            "threads",
        ):
            checks.at_least(name, getattr(self, name), 1)
        checks.non_negative("queue", self.queue)
        checks.positive("deadline_seconds", self.deadline_seconds)

    def host_names(self) -> set[str]:
        """Host header values (without port) the server answers: loopback, the bound name and
        those allowed; anything else could be a DNS-rebinding page and is refused."""
        names = {"127.0.0.1", "localhost", "::1", "[::1]", *self.allowed_hosts}
        if self.host not in ("0.0.0.0", "::", ""):
            names.add(self.host)
        return names


class Admission:
    """At most ``running + waiting`` requests in the server; the next is refused at once.

    Why refuse rather than queue without bound: a full server that answers 429 at once lets a
    client (or a load balancer) go elsewhere; one that queues answers late, after the client's
    own deadline. A slot is released by the worker when the work ends, even after the caller
    gave up waiting, so abandoned work still counts against the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            if self.active >= self.limit:
                raise ApiError(
                    429, f"The server is busy ({self.active} requests in progress); retry later"
                )
            self.active += 1

    def release(self) -> None:
        with self._lock:
            self.active -= 1

    @contextmanager
    def held(self) -> Iterator[None]:
        try:
            yield
        finally:
            self.release()


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Operation:
    """A ``google.longrunning.Operation`` for work that takes tens of seconds (Gatys)."""

    name: str
    progress: float = 0.0
    done: bool = False
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    created: str = field(default_factory=_stamp)
    updated: str = field(default_factory=_stamp)

    def state(self) -> str:
        if not self.done:
            return "CANCELLING" if self.cancel.is_set() else "RUNNING"
        if self.error is not None and self.error.get("code") == 1:
            return "CANCELLED"
        return "DONE"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "done": self.done,
            "metadata": {
                "state": self.state(),
                "progress": round(self.progress, 4),
                "createTime": self.created,
                "updateTime": self.updated,
            },
        }
        if self.response is not None:
            out["response"] = self.response
        if self.error is not None:
            out["error"] = self.error
        return out


class Operations:
    """The operations of one app; the oldest finished ones are forgotten past ``keep``."""

    def __init__(self, keep: int = 64) -> None:
        self.keep = keep
        self._ops: OrderedDict[str, Operation] = OrderedDict()
        self._lock = threading.Lock()

    def new(self) -> Operation:
        op = Operation(f"operations/{uuid.uuid4().hex}")
        with self._lock:
            self._ops[op.name] = op
            done = [k for k, v in self._ops.items() if v.done]
            for k in done[: max(0, len(self._ops) - self.keep)]:
                del self._ops[k]
        return op

    def get(self, name: str) -> Operation:
        with self._lock:
            op = self._ops.get(name)
        if op is None:
            raise ApiError(404, f"Operation {name} not found")
        return op

    def cancel_all(self) -> None:
        with self._lock:
            for op in self._ops.values():
                op.cancel.set()

    @staticmethod
    def update(op: Operation, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(op, key, value)
        op.updated = _stamp()


class Metrics:
    """Prometheus metrics in a registry of this app's own (tests run many apps at once)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "decaf_requests",
            "HTTP requests by route and status code",
            ["route", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "decaf_request_seconds", "Request latency by route", ["route"], registry=r
        )
        self.features = Histogram(
            "decaf_feature_seconds", "Time per annotate feature", ["feature"], registry=r
        )
        self.feature_errors = Counter(
            "decaf_feature_errors", "Features that failed", ["feature"], registry=r
        )
        self.queue = Gauge(
            "decaf_requests_in_progress", "Requests admitted and not finished", registry=r
        )
        self.rejected = Counter(
            "decaf_rejected", "Requests refused because the server was full", registry=r
        )

    def feature(self, kind: str, seconds: float, ok: bool) -> None:
        self.features.labels(kind).observe(seconds)
        if not ok:
            self.feature_errors.labels(kind).inc()


def elapsed(start: float) -> float:
    return time.perf_counter() - start
