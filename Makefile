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
	@echo "--- .wsb files and Windows Sandbox storage in demo-output/timeline.csv (date, time, MACB, what, file) ---"
	@grep -iE '\.wsb|Containers' demo-output/timeline.csv | cut -d, -f1,2,4,7,13 | head -n 25
	@echo "--- warnings (what could not be read) ---"
	@grep ',sandtrace,' demo-output/timeline.csv | cut -d, -f11 || true
	@echo
	@echo "Full timeline: demo-output/timeline.csv; provenance: demo-output/timeline.csv.meta.json"

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/run.py

# Needs root and Debian's ntfs-3g, qemu-utils, ewf-tools, gdisk, dosfstools (see test_images/README.md).
test-images: $(STAMP)
	$(PY) test_images/build.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
