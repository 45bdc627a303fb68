"""Where the time goes: py-spy samples a worker under load; each sample is charged to one layer.

A sample is charged to the innermost frame that belongs to a layer (a middleware class, the use cases,
the adapter, the driver, ...), skipping general-purpose standard-library helpers (``json``, ``re``,
``uuid``, ...) so that their cost lands on the layer that called them. A layer's share of the samples
times the worker's CPU time per request (measured over the same window) gives its µs per request.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PY_SPY_VERSION = "0.4.3"
_FRAME = re.compile(r"^(?P<name>.*) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")
# Standard-library helpers charged to their caller, not counted as a layer of their own.
TRANSPARENT = (
    "json/",
    "re/",
    "re.py",
    "uuid.py",
    "enum.py",
    "datetime.py",
    "typing.py",
    "abc.py",
    "functools.py",
    "contextlib.py",
    "contextvars",
    "<frozen",
    "dataclasses.py",
    "collections/",
    "urllib/",
    "ipaddress.py",
    "copy.py",
    "weakref.py",
    "_weakrefset.py",
    "base64.py",
    "unicodedata",
    "types.py",
    "string.py",
    "threading.py",
    "time.py",
    "email/",
    "http/",
    "encodings/",
)
LAYERS: tuple[tuple[str, str], ...] = (
    ("courier_http/middleware.py", "middleware"),
    ("courier_http/", "courier_http"),
    ("courier_consumer/", "courier_consumer"),
    ("courier_core/usecases/", "use cases (courier_core.usecases)"),
    ("courier_core/", "domain, validation, views (courier_core)"),
    ("courier_adapters/postgres/", "PostgreSQL adapter (repositories, unit of work)"),
    ("courier_adapters/metrics/", "metrics adapter (courier_adapters.metrics)"),
    ("courier_adapters/logs", "logging (courier_adapters.logs, logging)"),
    ("courier_adapters/kafka/", "Kafka adapter (courier_adapters.kafka)"),
    ("courier_adapters/grpc/", "gRPC gateway (courier_adapters.grpc)"),
    ("courier_adapters/", "courier_adapters (other)"),
    ("logging/", "logging (courier_adapters.logs, logging)"),
    ("kafka/", "Kafka client (kafka-python)"),
    ("grpc/", "gRPC (grpcio)"),
    ("prometheus_client/", "prometheus_client"),
    ("dependency_injector/", "container (dependency_injector)"),
    ("psycopg_pool/", "pool (psycopg_pool)"),
    ("psycopg/", "driver (psycopg)"),
    ("sqlalchemy/", "SQLAlchemy (should be 0 at run time)"),
    ("msgspec/", "serialisation (msgspec)"),
    ("starlette/", "Starlette (routing, request, response)"),
    ("uvicorn/", "uvicorn + httptools (HTTP protocol)"),
    ("httptools/", "uvicorn + httptools (HTTP protocol)"),
    ("bench/ceiling.py", "ceiling handlers"),
    ("asyncio/", "event loop (asyncio, uvloop)"),
    ("uvloop/", "event loop (asyncio, uvloop)"),
)


@dataclass(frozen=True)
class Frame:
    name: str
    path: str


def parse_frame(text: str) -> Frame:
    match = _FRAME.match(text.strip())
    if match is None:
        return Frame(name=text.strip(), path="")
    return Frame(name=match["name"], path=match["path"].replace("\\", "/"))


def layer_of(frame: Frame) -> str | None:
    """The layer a frame belongs to; ``None`` for a transparent helper."""
    path = frame.path
    if path.startswith(TRANSPARENT):  # the standard library's paths are relative to its folder
        return None
    for marker, label in LAYERS:
        if _within(path, marker):
            if label in ("middleware", "courier_http", "courier_consumer"):
                return _app_label(frame, label)
            return label
    top = path.lstrip("/<").split("/", 1)[0] or frame.name
    return f"other ({top})"


def _within(path: str, marker: str) -> bool:
    """``marker`` starts one of ``path``'s components (``re/`` is not inside ``courier_core/``)."""
    return path.startswith(marker) or f"/{marker}" in path


def _app_label(frame: Frame, label: str) -> str:
    """An app's own code, by module (and middleware by class): each is a layer of its own."""
    if label == "middleware":
        owner = frame.name.split(".", 1)[0] if "." in frame.name else frame.name
        return f"middleware {owner}"
    module = frame.path.rsplit("/", 1)[-1].removesuffix(".py")
    return f"{label}.{module}"


def charge(stack: Iterable[Frame]) -> str:
    """The layer one sample is charged to: the innermost frame with a layer (stacks are root first)."""
    for frame in reversed(list(stack)):
        label = layer_of(frame)
        if label is not None:
            return label
    return "other (unknown)"


def breakdown(raw: str) -> Counter[str]:
    """Samples per layer from py-spy's ``--format raw`` output (``frame;frame;... count`` lines)."""
    samples: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples[charge(parse_frame(f) for f in stack.split(";"))] += int(count)
    return samples


def per_request(samples: Counter[str], cpu_us_per_request: float) -> list[dict[str, Any]]:
    """Each layer's share of the samples and its µs of CPU per request, largest first."""
    total = sum(samples.values())
    if total == 0:
        return []
    return [
        {
            "layer": layer,
            "samples": count,
            "share": round(count / total, 4),
            "us_per_request": round(cpu_us_per_request * count / total, 1),
        }
        for layer, count in samples.most_common()
    ]


def py_spy_command() -> list[str] | None:
    """py-spy from PATH, else through ``uvx`` (a pinned version from PyPI); ``None`` when neither."""
    found = shutil.which("py-spy")
    if found:
        return [found]
    uvx = shutil.which("uvx")
    if uvx:
        return [uvx, "--from", f"py-spy=={PY_SPY_VERSION}", "py-spy"]
    return None


def record(pid: int, duration: float, drive: Callable[[], Any], *, rate: int = 250) -> tuple[str, Any]:
    """Sample ``pid`` while ``drive()`` loads it; return py-spy's raw output and what ``drive`` returned.

    py-spy stops on SIGINT once ``drive`` returns (``--duration`` only bounds it) and then writes.
    """
    command = py_spy_command()
    if command is None:
        raise RuntimeError("py-spy is missing: `pip install py-spy` or install uv (for `uvx`)")
    with tempfile.TemporaryDirectory(prefix="bench-pyspy-") as directory:
        output = Path(directory) / "profile.txt"
        spy = subprocess.Popen(
            [
                *command,
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--rate",
                str(rate),
                "--duration",
                str(round(duration) + 30),
                "--output",
                str(output),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        try:
            _wait_attached(spy)
            result = drive()
        finally:
            spy.send_signal(signal.SIGINT)
            _, errors = spy.communicate(timeout=60)
        if not output.exists():
            raise RuntimeError(f"py-spy wrote no profile ({spy.returncode}): {errors.decode()[-1000:]}")
        return output.read_text(), result


def _wait_attached(spy: subprocess.Popen[bytes]) -> None:
    """py-spy (through uvx) needs a moment to start and attach before the load begins."""
    time.sleep(1.0)
    if spy.poll() is not None:
        errors = spy.stderr.read().decode() if spy.stderr else ""
        raise RuntimeError(f"py-spy exited ({spy.returncode}): {errors[-1000:]}")
