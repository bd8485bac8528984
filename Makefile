# pymace: `make demo` and `make test` set everything up on a fresh Debian machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done
TRAIL := $(VENV)/last-test
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@# Debian's PoCL is the embedded default OpenCL device (the PoCL inside the pyopencl wheel fails on new
	@# CPUs); Chromium renders the report in its test.
	@if ! dpkg -s pocl-opencl-icd clinfo ocl-icd-libopencl1 chromium >/dev/null 2>&1; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq pocl-opencl-icd clinfo ocl-icd-libopencl1 chromium; \
	fi
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/pymace demo

# ruff holds arguments, statements and complexity; test_code_size.py file and function lengths (both first: fast)
test: setup
	$(VENV)/bin/ruff check pymace tests benchmarks
	$(PY) -m pytest -q tests/unit/test_code_size.py
	@# --capture=sys: what a driver prints as it aborts reaches the log; the trail names the test it died in
	PYMACE_TEST_TRAIL=$(TRAIL) $(PY) -m pytest -q -x --durations=15 --capture=sys || \
	  { rc=$$?; [ $$rc -lt 128 ] || echo "pytest died by signal $$((rc - 128)) in $$(cat $(TRAIL))"; exit $$rc; }

lint: setup
	$(VENV)/bin/ruff check pymace tests benchmarks
	$(PY) -m pytest -q tests/unit/test_code_size.py

clean:
	rm -rf $(VENV) build *.egg-info
