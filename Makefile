# The two commands of the README: `make demo` and `make test`. Both set up ./.venv themselves.
.PHONY: demo demo-2023 test lint setup clean

setup:
	bash scripts/setup_env.sh

demo: setup
	bash scripts/demo.sh

# 2023 data -> the shipped crossMoDA 2023 model (adapted_2023) and a perturbed-reference stand-in
# team -> 2023 evaluation and ranking.
demo-2023: setup
	bash scripts/demo.sh --edition 2023 --cases 9 --output demo2023

test:
	bash scripts/run_tests.sh

lint: setup
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/mypy

clean:
	rm -rf .venv demo demo2023 .pytest_cache .mypy_cache .ruff_cache
