"""``courier-order-service``: run the order-service simulator until SIGTERM or SIGINT.

    courier-order-service --port 50051 [--control-port 50052] [--kafka-bootstrap 127.0.0.1:9092
        --topic order.status.changed] [--seed 7] [--rate 0.5] [--step-interval 1s]

Serves ``orders.v1.OrdersService`` on loopback from memory; ``--rate`` creates random orders every
second, ``--step-interval`` moves each unfinished order on (``0`` = only on request); with
``--kafka-bootstrap`` every change is published as an ``order.status.changed`` event. The control
endpoint (``courier_order_sim.control``) creates orders, moves them and injects failures.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import grpc

from courier_adapters.logs import configure_logging
from courier_adapters.settings import parse_duration
from courier_order_sim.control import ControlServer
from courier_order_sim.publisher import DEFAULT_TOPIC, KafkaPublisher
from courier_order_sim.server import Publisher, Simulator

log = logging.getLogger("courier.order_sim")
_NOT_FOUND_CODES = {"unknown": grpc.StatusCode.UNKNOWN, "not_found": grpc.StatusCode.NOT_FOUND}


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="courier-order-service", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    p.add_argument("--port", type=int, default=50051, help="gRPC port (0: any free port)")
    p.add_argument("--control-port", type=int, default=None, help="HTTP control port (0: any free port)")
    p.add_argument("--kafka-bootstrap", default=None, help="publish status changes to these brokers")
    p.add_argument("--topic", default=DEFAULT_TOPIC, help="topic of the status events")
    p.add_argument("--seed", type=int, default=None, help="seed of the random data (reproducible runs)")
    p.add_argument("--rate", type=float, default=0.0, help="random orders created per second")
    p.add_argument("--step-interval", type=_duration, default=1.0, help="status step period (0: off)")
    p.add_argument("--not-found-code", choices=sorted(_NOT_FOUND_CODES), default="unknown")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--log-format", choices=("json", "console"), default="json")
    return p


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> None:
    """Run the simulator (and its control endpoint) until ``stop`` is set."""
    publisher: Publisher | None = None
    if args.kafka_bootstrap:
        publisher = await KafkaPublisher.connect(args.kafka_bootstrap, args.topic)
    sim = Simulator(
        host=args.host,
        port=args.port,
        seed=args.seed,
        rate=args.rate,
        step_interval=args.step_interval,
        publisher=publisher,
        not_found_code=_NOT_FOUND_CODES[args.not_found_code],
    )
    control = (
        None if args.control_port is None else ControlServer(sim, host=args.host, port=args.control_port)
    )
    async with sim:
        if control is not None:
            await control.start()
        log.info(
            "order service simulator ready",
            extra={"grpc": sim.address, "control_port": control.port if control else None},
        )
        try:
            await stop.wait()
        finally:
            if control is not None:
                await control.stop()


async def _run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(args, stop)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    configure_logging(args.log_level.upper(), args.log_format)
    try:
        asyncio.run(_run(args))
    except OSError as exc:
        log.error("order service simulator cannot start: %s", exc)
        sys.exit(1)
