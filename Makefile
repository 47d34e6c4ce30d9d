# geocot: the two quick-start commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
GEOCOT := $(VENV)/bin/geocot
# The CPU/GPU torch build this project is tested with; override for another platform.
TORCH  ?= torch==2.14.1 torchvision==0.29.1
DEMO   ?= out/demo

.PHONY: install test test-all docs demo demo-model bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

test: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -n 2 --doctest-modules geocot_cli tests

test-all: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -n 2 --doctest-modules -m '' geocot_cli tests

# The docs site; --strict fails on a broken link, a missing page or a bad anchor.
docs: install
	$(VENV)/bin/mkdocs build --strict --quiet

demo: install
	bash examples/demo.sh $(DEMO)

# Rebuild the bundled demo model from scratch (about 7.5 hours on 2 CPU cores; see docs/demo-model.md).
demo-model: install
	GEOCOT=$(GEOCOT) bash train/demo-model.sh out/demo-model

bench: install
	for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f --write-docs || exit 1; done

clean:
	rm -rf $(DEMO) build dist site *.egg-info
