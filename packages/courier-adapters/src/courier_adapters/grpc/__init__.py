"""The order service over gRPC: ``GrpcOrderGateway`` (core's ``OrderGateway``) and its resilience.

Generated code (``gen/``) comes from ``proto/`` through ``proto/generate.py`` and is used only here and
by the simulator (``courier_order_sim``).
"""

from courier_adapters.grpc.gateway import (
    GrpcOrderGateway,
    order_gateway_from_settings,
    order_gateway_resource,
)
from courier_adapters.grpc.resilience import Backoff, BreakerState, CircuitBreaker, RetryPolicy

__all__ = [
    "Backoff",
    "BreakerState",
    "CircuitBreaker",
    "GrpcOrderGateway",
    "RetryPolicy",
    "order_gateway_from_settings",
    "order_gateway_resource",
]
