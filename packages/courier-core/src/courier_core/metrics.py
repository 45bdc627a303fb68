"""A :class:`~courier_core.ports.Metrics` that counts nothing, for callers that need none."""

from __future__ import annotations


class NullMetrics:
    """Discards every measurement."""

    def assignment(self, result: str) -> None:
        pass

    def deliveries_expired(self, count: int) -> None:
        pass

    def gateway_retry(self, method: str) -> None:
        pass

    def breaker_state(self, target: str, state: str) -> None:
        pass

    def order_verification_skipped(self) -> None:
        pass

    def port_call(self, port: str, method: str, seconds: float) -> None:
        pass
