# The two commands of the README: `make demo` and `make test`. Both set up ./.venv themselves.
.PHONY: demo test lint setup clean

setup:
	bash scripts/setup_env.sh

demo: setup
	bash scripts/demo.sh

test:
	bash scripts/run_tests.sh

lint: setup
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/mypy

clean:
	rm -rf .venv demo .pytest_cache .mypy_cache .ruff_cache
