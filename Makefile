# romandia: `make demo` and `make test` do all the set-up on a fresh clone.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
SNAKEMAKE := $(VENV)/bin/snakemake
CORES ?= 2
export PATH := $(abspath $(VENV))/bin:$(PATH)
export NUMBA_CACHE_DIR ?= $(abspath .numba_cache)
export PYTHONHASHSEED := 0

INSTALLED := $(VENV)/.installed

.PHONY: install demo test test-examples test-slurm validate lint format bench-slurm lock clean

install: $(INSTALLED)

$(INSTALLED): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

data/demo/manifest.json: $(INSTALLED)
	$(VENV)/bin/romandia simulate --preset demo --out data/demo

demo: $(INSTALLED) data/demo/manifest.json
	$(SNAKEMAKE) --cores $(CORES) --configfile config/config.yaml --rerun-incomplete --scheduler greedy
	$(SNAKEMAKE) --configfile config/config.yaml --report results/report.html
	@echo
	@echo "Lightcurves (CSV + parquet), plots, stamps, provenance; the report: results/report.html"
	@ls -1 results/lc_out_dir/data/*/*

# No test here talks to SLURM; SLURM_CONF=/dev/null stops the slurm executor plugin's
# `scontrol show config` probe at every Snakemake start, which waits ~9 s where SLURM is
# installed but not running (a machine that ran `make test-slurm`; docs/benchmarks.md).
test: $(INSTALLED)
	SLURM_CONF=/dev/null $(VENV)/bin/pytest -q --durations=15 -m "not slurm and not gpu and not examples"
	$(MAKE) lint

# Every example config users copy (.test/<case>/config.yaml) linted and run on the test preset.
test-examples: $(INSTALLED)
	$(VENV)/bin/pytest -q -m examples tests/test_examples.py

# Photometric accuracy against truth: simulate the validation preset, run the workflow with
# romandia's defaults and with phrosty's configuration, regenerate docs/validation.md.
validate: $(INSTALLED)
	$(VENV)/bin/romandia validate --out results/validation --phrosty --report docs/validation.md --max-zp-images 60

# Integration tests against a real single-node SLURM (slurmctld, slurmd, slurmdbd + MariaDB,
# munge, a fake GPU); needs root and Debian's packages (installed on first use).
test-slurm: $(INSTALLED)
	tests/slurm/local_slurm.sh install
	tests/slurm/local_slurm.sh start
	$(VENV)/bin/pytest -q -m slurm tests/test_slurm.py; rc=$$?; tests/slurm/local_slurm.sh stop; exit $$rc

bench-slurm: $(INSTALLED)
	$(PY) bench/slurm_overhead.py --n 8

lint: $(INSTALLED)
	$(VENV)/bin/ruff check src scripts tests bench
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules
	$(SNAKEMAKE) --lint --configfile tests/data/lint_config.yaml >/dev/null

format: $(INSTALLED)
	$(VENV)/bin/ruff check --fix src scripts tests bench
	$(VENV)/bin/snakefmt Snakefile workflow/rules

lock:
	(head -1 requirements.lock; $(PY) -m pip freeze --exclude-editable | grep -vi '^romandia') > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf results logs benchmarks .snakemake
