"""Named read queries shared by the dashboard, checks and exporter."""
