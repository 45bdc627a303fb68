"""``python -m courier_cli.broker PORT``: the embedded Kafka broker as a child of ``courier dev up``.

A thin process around :mod:`courier_adapters.kafka.embedded`, so the broker gets its own session like
every other component (a Ctrl-C at the terminal must not stop it before the consumer is done with it).
"""

from __future__ import annotations

import signal
import sys
import threading

from courier_adapters.kafka.embedded import EmbeddedBroker


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    port = int(args[0]) if args else None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with EmbeddedBroker.start(port=port) as broker:
        print(f"embedded Kafka broker on {broker.bootstrap_servers}", flush=True)
        while not stop.wait(0.5):
            if not broker.running:
                sys.exit(f"the broker exited with code {broker.process.returncode}")


if __name__ == "__main__":
    main()
