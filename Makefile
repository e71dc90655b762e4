# The first two targets are all a fresh machine needs: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_IMAGE := test_images/foundation.E01

.PHONY: demo test bench test-images venv clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[plaso,dask,test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sandtrace info $(DEMO_IMAGE)
	$(VENV)/bin/sandtrace extract $(DEMO_IMAGE) -o demo-output/timeline.csv --format l2tcsv --overwrite
	@echo
	@echo "--- first lines of demo-output/timeline.csv ---"
	@head -n 12 demo-output/timeline.csv

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/run.py

# Needs root and Debian's ntfs-3g, qemu-utils, ewf-tools, gdisk, dosfstools (see test_images/README.md).
test-images: $(STAMP)
	$(PY) test_images/build.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
