"""Read models by reader: one module of named queries per page, check or metric (common.py, engine.py shared)."""
