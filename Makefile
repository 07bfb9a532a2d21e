.PHONY: demo test lint package
demo:
	./scripts/bootstrap.sh
	.venv/bin/edge-agent demo

test:
	./scripts/test.sh

lint:
	./scripts/bootstrap.sh
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

# The wheel and the .deb for this machine's architecture and python3 (docs/install.md).
package:
	rm -rf build/package
	./scripts/package.sh
