"""Observation: Prometheus metrics, OpenTelemetry tracing, structured logs, the admin app."""
