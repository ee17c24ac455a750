"""The service's Prometheus metrics (prometheus-client), in a registry of the app's own so
two apps in one process (tests) count apart."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ftlab_serve_requests",
            "HTTP requests answered, by path and status code",
            ["path", "code"],
            registry=self.registry,
        )
        self.errors = Counter(
            "ftlab_serve_errors",
            "requests answered with an error, by status code",
            ["code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ftlab_serve_request_seconds",
            "time from a request's arrival to its answer, by path and status code",
            ["path", "code"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.inputs = Counter("ftlab_serve_inputs", "texts predicted", registry=self.registry)
        self.batch_size = Histogram(
            "ftlab_serve_batch_size",
            "requests answered by the same model call, observed once per request",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue = Gauge(
            "ftlab_serve_queue_length",
            "prediction requests accepted and not yet answered (waiting or running)",
            registry=self.registry,
        )
