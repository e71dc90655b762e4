# The first two targets are all a fresh machine needs: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_IMAGE := test_images/host.E01

.PHONY: demo test fuzz bench test-images venv clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[plaso,dask,test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sandtrace info $(DEMO_IMAGE)
	$(VENV)/bin/sandtrace extract $(DEMO_IMAGE) --carve -o demo-output/timeline.jsonl --format json_line \
		--report demo-output/report.html --overwrite
	$(VENV)/bin/sandtrace report demo-output/timeline.jsonl -o demo-output/report.md --overwrite
	@echo
	@echo "--- the findings (demo-output/report.md; the same as HTML in demo-output/report.html) ---"
	@sed -n '1,/^## Sources/p' demo-output/report.md | head -n 40
	@echo
	@echo "Timeline (plaso json_line): demo-output/timeline.jsonl; provenance: demo-output/timeline.jsonl.meta.json"

test: $(STAMP)
	$(PY) -m pytest -q

# Longer hypothesis budgets for tests/fuzz (random seeds); make test runs 50 derandomised examples each.
# An input slower than SANDTRACE_FUZZ_DEADLINE seconds fails as a hang.
SANDTRACE_FUZZ_EXAMPLES ?= 5000
SANDTRACE_FUZZ_DEADLINE ?= 20
fuzz: $(STAMP)
	ulimit -v 6000000 && SANDTRACE_FUZZ_EXAMPLES=$(SANDTRACE_FUZZ_EXAMPLES) SANDTRACE_FUZZ_DEADLINE=$(SANDTRACE_FUZZ_DEADLINE) \
		$(PY) -m pytest -q -p no:cacheprovider --durations=0 tests/fuzz

bench: $(STAMP)
	$(PY) bench/run.py

# Needs root and Debian's ntfs-3g, qemu-utils, ewf-tools, gdisk, dosfstools (see test_images/README.md).
test-images: $(STAMP)
	$(PY) test_images/build.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
