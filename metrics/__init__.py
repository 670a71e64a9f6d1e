"""The Prometheus exporter, its collector and the alert rules."""
