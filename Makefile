# The two set-up commands of the README: `make demo` (the main job) and `make test`.
.PHONY: demo test lint bench

demo:
	./scripts/setup.sh
	.venv/bin/booking demo

test:
	./scripts/test.sh

lint:
	.venv/bin/ruff check src tests checks metrics dashboard bench
	.venv/bin/mypy

bench:
	.venv/bin/python -m bench.hot_slot
