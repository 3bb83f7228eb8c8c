# Two commands on a fresh machine: `make book` and `make test`.
# Each creates .venv and installs everything it needs first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Jupyter refuses to run as root unless allowed; CI runs as root. This
# project-local config dir allows it (see .jupyter/jupyter_server_config.py).
export JUPYTER_CONFIG_DIR := $(CURDIR)/.jupyter
# One machine profile (cnnlab.perf.machine) and one benchmark run per build, shared by every page;
# `make clean` removes them, so the next build measures again. nbval reads a copy (see notebooks).
export CNNLAB_CACHE_DIR := $(CURDIR)/_build/cnnlab-cache
# Silences debugpy's "frozen modules" warning inside executed kernels.
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test lint unit notebooks strict-book browser-test lab student nbgrader clean help

# The book's own runs treat an exercise check that does not pass as an error,
# so a broken solution fails the build (readers in `make lab` just get feedback).
book notebooks strict-book: export CNNLAB_STRICT_EXERCISES := 1

help:
	@echo "make book   build the book into _build/html (notebooks executed, cached)"
	@echo "make test   lint and types, unit tests, nbval on every notebook, strict book build, browser test"
	@echo "make student   student edition of every notebook into student/"
	@echo "make nbgrader  nbgrader course of every chapter into nbgrader-course/source/"
	@echo "make lab    open JupyterLab on notebooks/"

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

book: $(STAMP)
	$(BIN)/jupyter-book build .
	@echo "Open the book: $(CURDIR)/_build/html/index.html"

# The strict build comes before nbval: it measures the machine alone, and nbval reuses a copy.
test: lint unit strict-book notebooks browser-test

# ruff (lint and format, 88 columns) and mypy over the package; settings in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check cnnlab
	$(BIN)/ruff format --check cnnlab
	$(BIN)/mypy

# One test process per core (pytest-xdist), each taking whole files, so a kernel
# is compiled once per process rather than once per test.
unit: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile tests

# Every notebook under nbval, one per core at a time (whole notebooks: --dist loadfile). They
# measure on a busy machine, so they run on a copy of the book's measurements (if there are any
# yet), and what they measure themselves never becomes the ceilings the book quotes.
NBVAL_CACHE := $(CURDIR)/_build/nbval-cache
notebooks: $(STAMP)
	rm -rf $(NBVAL_CACHE) && mkdir -p $(NBVAL_CACHE)
	if [ -d $(CNNLAB_CACHE_DIR) ]; then cp -R $(CNNLAB_CACHE_DIR)/. $(NBVAL_CACHE)/; fi
	CNNLAB_CACHE_DIR=$(NBVAL_CACHE) $(BIN)/python -m pytest -n auto --dist loadfile --nbval-lax notebooks

strict-book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "Open the book: $(CURDIR)/_build/html/index.html"

# Every page of the strictly built book in Chromium, offline, screenshots in _build/screenshots;
# and every page's outputs read for wide lines, tracebacks and machine paths.
browser-test: strict-book
	CNNLAB_BOOK_HTML=$(CURDIR)/_build/html $(BIN)/python -m pytest tests/test_browser.py tests/test_readable_pages.py

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

# The student edition: every notebook with its exercise solutions removed (see cnnlab/teaching/student_edition.py).
student: $(STAMP)
	$(BIN)/python -m cnnlab.teaching.student_edition notebooks student

# An nbgrader course, one assignment per chapter (see cnnlab/teaching/nbgrader.py); then,
# with $(BIN) on PATH: cd nbgrader-course && nbgrader generate_assignment ch02
nbgrader: $(STAMP)
	$(BIN)/python -m cnnlab.teaching.nbgrader notebooks --out nbgrader-course

# student/ holds students' work, nbgrader-course/ a teacher's: only they delete it.
clean:
	rm -rf _build
