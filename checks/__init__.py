"""Integrity checks (Great Expectations) over the booking database."""
