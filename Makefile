.PHONY: demo test lint
demo:
	./scripts/bootstrap.sh
	.venv/bin/edge-agent demo

test:
	./scripts/test.sh

lint:
	./scripts/bootstrap.sh
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy
