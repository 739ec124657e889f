# Each target sets itself up from nothing (see tasks.py, which also runs on Windows).
PYTHON ?= python3

.PHONY: lab test labs lint

lab:   ## create .venv if missing, install, start JupyterLab on labs/
	$(PYTHON) tasks.py lab

test:  ## create .venv if missing, install with dev extras, run the whole test suite
	$(PYTHON) tasks.py test

labs:  ## regenerate labs/ from solutions/ (instructors; outputs stripped)
	$(PYTHON) tasks.py labs

lint:
	.venv/bin/ruff check .
