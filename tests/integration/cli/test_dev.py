"""``courier dev order-service`` hands its arguments to the simulator's own command line."""

from __future__ import annotations

from tests.integration.cli.conftest import Cli


def test_order_service_passes_its_arguments_to_the_simulator(cli: Cli) -> None:
    result = cli("dev", "order-service", "--help")
    assert result.exit_code == 0
    assert "--control-port" in result.stdout and "--kafka-bootstrap" in result.stdout
    wrong = cli("dev", "order-service", "--port", "not-a-number")
    assert wrong.exit_code == 2
