# The two commands of the README.
.PHONY: setup demo test bench
setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/hwgen demo

test: setup
	.venv/bin/python -m pytest -n 2

bench: setup
	.venv/bin/python benchmarks/accuracy.py
