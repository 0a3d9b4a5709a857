# soulchat: the two set-up commands are `make demo` and `make test`; each builds .venv first when needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch; override on a GPU machine, e.g. `make install TORCH_SPEC="torch==2.13.0"` with a CUDA index.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.soulchat-installed
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install demo test test-notebooks docs test-fast lint format bench clean browser-deps

$(STAMP): setup.py pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	# torch first and pinned, so that nothing later pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	# setuptools<82 keeps pkg_resources, which cpm_kernels imports; deepspeed's sdist builds against the installed torch.
	$(BIN)/python -m pip install -q "setuptools<82" wheel
	$(BIN)/python -m pip install -q --no-build-isolation "deepspeed>=0.15"
	$(BIN)/python -m pip install -q -e ".[test,dev,notebooks,docs]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/soulchat demo --output runs/demo

test: install
	$(BIN)/python -m pytest -q -m "not notebooks"

# Executes the example notebooks top to bottom on the tiny defaults (offline).
test-notebooks: install
	$(BIN)/python -m pytest -q -m notebooks tests/examples

# The documentation site, with the API reference generated from the docstrings; warnings are errors.
docs: install
	$(BIN)/mkdocs build --strict

lint: install
	$(BIN)/ruff check src tests benchmarks dataset_scripts examples
	$(BIN)/ruff format --check src tests benchmarks dataset_scripts examples

format: install
	$(BIN)/ruff check --fix src tests benchmarks dataset_scripts examples
	$(BIN)/ruff format src tests benchmarks dataset_scripts examples

# Headless Chromium and a CJK font (screenshots show Chinese, not boxes) for tests/inference/webui; needs root.
# Without them the browser tests skip with a reason.
browser-deps:
	command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi wenquanyi || \
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei; }

bench: install
	$(BIN)/python benchmarks/bench_prepare.py

clean:
	rm -rf $(VENV) runs build dist site artifacts src/*.egg-info .pytest_cache .ruff_cache
