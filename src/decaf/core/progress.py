"""The one console for progress bars and log lines: stderr, so stdout stays for results/JSON."""

from __future__ import annotations

from rich.console import Console

console = Console(stderr=True)
