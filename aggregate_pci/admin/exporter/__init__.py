"""Exporter: capacity and check results as Prometheus metrics, and their HTTP server."""
