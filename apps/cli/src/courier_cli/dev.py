"""``courier dev up`` (the local stack of ``make run``) and ``courier dev order-service``.

The stack is data: :data:`COMPONENTS` lists what may run, in start order, each with the modules that
must be installed for it to exist, the setting that replaces it with a real server, its command, how to
tell it is ready and what it gives the components after it. PostgreSQL (embedded unless
``COURIER_DATABASE_URL``) runs first, in this process; the rest are child processes.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from courier_cli import lazy
from courier_cli.errors import UsageProblem
from courier_cli.output import PLAIN_HELP, note, print_table
from courier_cli.stack import Probe, StackError, Supervisor
from courier_cli.stacklock import StackLock

if TYPE_CHECKING:
    from courier_adapters.bootstrap import DatabaseTarget
    from courier_adapters.settings import Settings

app = typer.Typer(
    rich_markup_mode=PLAIN_HELP, help="Run courier on this machine, with no setup.", no_args_is_help=True
)
HOST = "127.0.0.1"
Env = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Ports:
    api: int
    broker: int
    order_service: int
    control: int
    metrics: int


@dataclass(frozen=True, slots=True)
class Plan:
    settings: Settings
    ports: Ports
    order_rate: float


@dataclass(frozen=True, slots=True)
class Component:
    """One part of the local stack."""

    name: str
    needs: tuple[str, ...]  # modules that exist once the part has been built and installed
    command: Callable[[Plan, Env], list[str]]
    probe: Callable[[Plan], Probe]
    provides: Callable[[Plan], dict[str, str]] = lambda plan: {}
    replaced_by: str | None = None  # a setting that points at a real server instead
    needs_env: tuple[str, ...] = ()

    def installed(self) -> bool:
        try:
            return all(importlib.util.find_spec(module) is not None for module in self.needs)
        except ModuleNotFoundError:
            return False


def script(name: str) -> list[str]:
    """The console script ``name`` of this environment (or the same entry point through Python)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return [str(beside)]
    (found,) = entry_points(group="console_scripts", name=name)
    module, _, function = found.value.partition(":")
    return [sys.executable, "-c", f"import sys; from {module} import {function}; sys.exit({function}())"]


def _simulator(plan: Plan, env: Env) -> list[str]:
    command = [*script("courier-order-service"), "--port", str(plan.ports.order_service)]
    command += ["--control-port", str(plan.ports.control), "--rate", str(plan.order_rate)]
    command += ["--log-format", plan.settings.log_format]
    if env.get("COURIER_KAFKA_BOOTSTRAP_SERVERS"):
        command += ["--kafka-bootstrap", env["COURIER_KAFKA_BOOTSTRAP_SERVERS"]]
        command += ["--topic", plan.settings.kafka_topic]
    return command


COMPONENTS: tuple[Component, ...] = (
    Component(
        name="kafka-broker",
        needs=("courier_adapters.kafka.embedded",),
        command=lambda plan, env: [sys.executable, "-m", "courier_cli.broker", str(plan.ports.broker)],
        probe=lambda plan: Probe(HOST, plan.ports.broker),
        provides=lambda plan: {"COURIER_KAFKA_BOOTSTRAP_SERVERS": f"{HOST}:{plan.ports.broker}"},
        replaced_by="kafka_bootstrap_servers",
    ),
    Component(
        name="order-service",
        needs=("courier_order_sim.server",),
        command=_simulator,
        probe=lambda plan: Probe(HOST, plan.ports.order_service),
        provides=lambda plan: {"COURIER_ORDER_SERVICE_ADDR": f"{HOST}:{plan.ports.order_service}"},
        replaced_by="order_service_addr",
    ),
    Component(
        name="courier-api",
        needs=("courier_http.app",),
        command=lambda plan, env: script("courier-api"),
        probe=lambda plan: Probe(HOST, plan.ports.api, "/ping"),
    ),
    Component(
        name="courier-consumer",
        needs=("courier_consumer.app", "courier_adapters.kafka"),
        command=lambda plan, env: script("courier-consumer"),
        probe=lambda plan: Probe(HOST, plan.ports.metrics, "/readyz"),
        needs_env=("COURIER_KAFKA_BOOTSTRAP_SERVERS",),
    ),
)


def _where(component: Component, plan: Plan) -> str:
    probe = component.probe(plan)
    if component.name == "courier-api":
        base = f"http://{HOST}:{probe.port}"
        return f"{base}  (console: {base}/console, docs: {base}/docs)"
    if component.name == "order-service":
        return f"grpc {HOST}:{probe.port}, control http://{HOST}:{plan.ports.control}"
    if component.name == "courier-consumer":
        return f"metrics http://{HOST}:{probe.port}/metrics"
    return f"{HOST}:{probe.port}"


def _child_env(plan: Plan, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        COURIER_DATABASE_URL=database_url,
        COURIER_MIGRATE_ON_START="false",  # migrated once, here
        COURIER_HTTP_HOST=HOST,
        COURIER_HTTP_PORT=str(plan.ports.api),
        COURIER_METRICS_PORT=str(plan.ports.metrics),
    )
    return env


@contextmanager
def _signals_stop(supervisor: Supervisor) -> Iterator[None]:
    """Ctrl-C and SIGTERM ask for a clean stop instead of interrupting whatever runs."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: supervisor.stopping.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start_components(
    plan: Plan, supervisor: Supervisor, env: dict[str, str], *, timeout: float, lock: StackLock
) -> list[Any]:
    rows: list[Any] = []
    for component in COMPONENTS:
        if supervisor.stopping.is_set():
            break
        external = getattr(plan.settings, component.replaced_by) if component.replaced_by else None
        missing_env = [name for name in component.needs_env if not env.get(name)]
        if external or not component.installed() or missing_env:
            why = f"external: {external}" if external else "not installed" if not missing_env else "no broker"
            rows.append({"component": component.name, "pid": "", "where": why})
            continue
        child = supervisor.start(component.name, component.command(plan, env), env=env)
        lock.add_component(component.name, child.process.pid)
        try:
            supervisor.wait_ready(child, component.probe(plan), timeout=timeout)
        except StackError:
            note(f"--- last lines of {child.log_path} ---\n{child.tail()}")
            raise
        env.update(component.provides(plan))
        where = _where(component, plan)
        rows.append(
            {"component": component.name, "pid": child.process.pid, "where": where, "log": child.log_path}
        )
    return rows


def _lock_ports(plan: Plan) -> dict[str, str]:
    """What the stack's lock records, for a second ``courier dev up`` to name."""
    ports = plan.ports
    return {
        "api": f"http://{HOST}:{ports.api}",
        "broker": f"{HOST}:{ports.broker}",
        "order-service": f"grpc {HOST}:{ports.order_service}, control http://{HOST}:{ports.control}",
        "metrics": f"http://{HOST}:{ports.metrics}/metrics",
    }


def _run_stack(
    plan: Plan, supervisor: Supervisor, target: DatabaseTarget, *, timeout: float, lock: StackLock
) -> None:
    """Start the components, show what runs where, and wait for Ctrl-C (or a component's failure)."""
    postgres = {"component": "postgresql", "pid": "", "where": target.safe_url}
    lock.record["database"] = target.safe_url
    lock.record["embedded_database"] = target.embedded is not None
    env = _child_env(plan, target.url)
    rows = _start_components(plan, supervisor, env, timeout=timeout, lock=lock)
    if supervisor.stopping.is_set():
        return
    print_table([postgres, *rows], ("component", "pid", "where"), title="courier dev up")
    print(f"logs: {supervisor.log_dir}/<component>.log")
    if any(row["component"] == "order-service" for row in rows):
        control = f"http://{HOST}:{plan.ports.control}"
        print(f"pause the order simulator: curl -s -X POST {control}/pause  (POST /resume starts it again)")
    note("courier is running; Ctrl-C stops everything")
    sys.stdout.flush()
    supervisor.watch()


@app.command("up")
def up(
    ctx: typer.Context,
    api_port: Annotated[
        int | None, typer.Option(help="courier-api's port [default: COURIER_HTTP_PORT]")
    ] = None,
    broker_port: Annotated[int, typer.Option(help="The embedded Kafka broker's port.")] = 9092,
    order_service_port: Annotated[int, typer.Option(help="The simulator's gRPC port.")] = 50051,
    control_port: Annotated[int, typer.Option(help="The simulator's HTTP control port.")] = 50052,
    metrics_port: Annotated[
        int | None, typer.Option(help="courier-consumer's metrics port [default: COURIER_METRICS_PORT]")
    ] = None,
    order_rate: Annotated[
        float, typer.Option(min=0, help="Random orders the simulator creates per second.")
    ] = 0.0,
    start_timeout: Annotated[float, typer.Option(min=1, help="Seconds each component has to start.")] = 90.0,
) -> None:
    """Run the local stack: embedded PostgreSQL, Kafka broker, order-service simulator, courier-api and
    courier-consumer (each part that is installed); Ctrl-C stops everything.

    Example: courier dev up --api-port 8080
    """
    from courier_cli.runtime import database

    settings = lazy.state(ctx).settings
    ports = Ports(
        api=api_port or settings.http_port,
        broker=broker_port,
        order_service=order_service_port,
        control=control_port,
        metrics=metrics_port or settings.metrics_port,
    )
    plan = Plan(settings, ports, order_rate)
    # First of all, before a log is opened or a port taken: is a stack running on this data directory?
    lock = StackLock(settings.data_dir)
    lock.acquire(_lock_ports(plan))
    try:
        supervisor = Supervisor(lock.data_dir / "logs", grace_seconds=settings.shutdown_timeout + 5)
        with _signals_stop(supervisor), database(settings) as target:
            try:
                _run_stack(plan, supervisor, target, timeout=start_timeout, lock=lock)
            finally:
                supervisor.stop_all(note)
    finally:
        lock.release()
    note("stopped")


@app.command(
    "order-service",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)
def order_service(ctx: typer.Context) -> None:
    """Run the order-service simulator alone (the arguments of courier-order-service, e.g. --help).

    Example: courier dev order-service --port 50051 --control-port 50052 --rate 1
    """
    try:
        from courier_order_sim.main import main as simulator
    except ModuleNotFoundError as exc:
        raise UsageProblem("the order-service simulator (courier-order-sim) is not installed") from exc
    simulator(list(ctx.args))
