# Each target sets itself up from nothing (see tasks.py, which also runs on Windows).
PYTHON ?= python3

.PHONY: lab test labs lint

# `make lab LANG=zh_CN`: the Chinese labs, JupyterLab in Chinese. LANG is also the locale variable, so a
# Chinese locale (LANG=zh_CN.UTF-8) opens them too; `make lab LANG=en` forces English.
lab:   ## create .venv if missing, install, start JupyterLab on labs/ (LANG=zh_CN: labs/zh_CN/)
	$(PYTHON) tasks.py lab --lang "$(LANG)"

test:  ## create .venv if missing, install with dev extras, run the whole test suite
	$(PYTHON) tasks.py test

labs:  ## regenerate labs/ and labs/zh_CN/ from solutions/ (+ catalogues) (instructors; outputs stripped)
	$(PYTHON) tasks.py labs

lint:
	.venv/bin/ruff check .
