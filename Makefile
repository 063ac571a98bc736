# whynot: on a fresh machine (Python 3.11), `make book` and `make test` install what they need.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# This machine's pip config makes pip print one warning per line; drop them, keep pip's status.
QUIET_PIP := 2>&1 | { grep -v '^WARNING: Location' || true; }

JUPYTER_BOOK := jupyter-book build . --all -W -n --keep-going
# Each executed notebook records a fingerprint of what it depends on (its source, the library's
# code, weights and data, _config.yml, the profile); `stale` names those that no longer match.
STALE := $(PY) -m whynot.book stale

HTML_MANAGER := @jupyter-widgets/html-manager@1.0.15
REQUIREJS := requirejs@2.3.8
MATHJAX := mathjax@3.2.2

.PHONY: help book reproduce test rehearse golden bench vendor clean

help:
	@echo "make book    install, re-execute only the stale notebooks (default profile) into book/executed/, build _build/html"
	@echo "make reproduce  install, re-execute every notebook from an empty cache, then make book"
	@echo "make test    install, unit tests, smoke run of every notebook, nbval goldens, book build, browser check"
	@echo "make rehearse  every chapter's full-profile code on small fixtures, at random weights"
	@echo "make golden  re-execute the smoke profile into tests/golden/ (after changing a notebook)"
	@echo "make bench   run the benchmarks in benchmarks/ (engine, gradient-sign perturbation, blurring, Group-CAM, Abs-CAM, ViT)"
	@echo "make vendor  re-download the widget JavaScript into book/_vendor/ (npm)"
	@echo "make clean   remove _build/"

# --- installation: once, and again when pyproject.toml or constraints.txt change ---------------
$(PY):
	$(PYTHON) -m venv $(VENV)

.PRECIOUS: $(VENV)/.installed-%  # stamps, not intermediate files to delete after the build
$(VENV)/.installed-%: pyproject.toml constraints.txt | $(PY)
	@echo "Installing whynot[$*] into $(VENV) (a few minutes the first time) ..."
	$(PY) -m pip install -q -c constraints.txt -e '.[$*]' $(QUIET_PIP)
	touch $@

# --- the book ----------------------------------------------------------------------------------
# Executes only the chapters whose fingerprint does not match (none on an unchanged clone).
# The claims page and the summaries are generated from the executed chapters' records.
book: $(VENV)/.installed-book
	$(PY) -m whynot.book execute --profile default --stale
	$(PY) -m whynot.book claims
	$(JUPYTER_BOOK)
	@echo "The book is built: open file://$(CURDIR)/_build/html/index.html"

# As a reviewer of the results would: every chapter again, from an empty experiment cache.
REPRODUCE_CACHE := $(CURDIR)/_build/reproduce-cache
reproduce: $(VENV)/.installed-book
	rm -rf $(REPRODUCE_CACHE)
	WHYNOT_CACHE=$(REPRODUCE_CACHE) $(PY) -m whynot.book execute --profile default
	$(MAKE) --no-print-directory book

# --- tests -------------------------------------------------------------------------------------
# Checked cells (tagged nbval-check-output) must print the same on any machine (DESIGN.md), so the
# goldens run twice: as here, and as on a second machine whose CPU rounds differently.
NBVAL := WHYNOT_PROGRESS=0 $(PY) -m pytest --nbval-lax tests/golden --nbval-sanitize-with tests/nbval_sanitize.cfg
# Its own cache too: a second machine recomputes the experiments' stored results.
OTHER_MACHINE := ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	WHYNOT_CACHE=$(CURDIR)/_build/other-machine-cache
# GitHub's runners ship /usr/bin/chromium; elsewhere apt installs it, with sudo unless root.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
/usr/bin/chromium:
	@echo "Installing Debian's chromium for the browser check (needs root or sudo)."
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

tests/browser/node_modules/.package-lock.json: tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund

test: $(VENV)/.installed-test /usr/bin/chromium tests/browser/node_modules/.package-lock.json
	@echo "Committed outputs against their fingerprints (seconds): book/executed, tests/golden"
	stale=0; $(STALE) --profile default || stale=1; \
		$(STALE) --profile smoke --out tests/golden || stale=1; exit $$stale
	actionlint  # .github/workflows, their shell steps through shellcheck
	$(PY) -m pytest tests -m "not browser"
	$(PY) -m whynot.book execute --profile smoke --out _build/smoke
	$(PY) -m whynot.book claims --records _build/smoke/claims --validate
	$(MAKE) --no-print-directory rehearse
	$(NBVAL)
	@echo "nbval again, as on another machine: torch's non-vectorised kernels, one thread"
	rm -rf _build/other-machine-cache
	$(OTHER_MACHINE) $(NBVAL)
	$(PY) -m whynot.book claims --check
	$(JUPYTER_BOOK)
	$(PY) -m pytest tests -m browser -rP

# The Colab user's `profile = "full"`, end to end, on small fixtures in the real formats (CUB,
# COCO, ImageNet val, a fine-tuned checkpoint) at random weights: whynot.rehearsal. Its records
# stay in _build/rehearsal/claims; every claim needs one there too.
rehearse: $(VENV)/.installed-test
	$(PY) -m whynot.book execute --profile rehearsal --out _build/rehearsal
	$(PY) -m whynot.book claims --records _build/rehearsal/claims --validate

golden: $(VENV)/.installed-test
	$(PY) -m whynot.book execute --profile smoke --out tests/golden

bench: $(VENV)/.installed-test
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_pgd.py
	$(PY) benchmarks/bench_blurring.py
	$(PY) benchmarks/bench_groupcam.py
	$(PY) benchmarks/bench_abscam.py
	$(PY) benchmarks/bench_vit.py

# --- vendored widget JavaScript (book/_vendor/README.md) ----------------------------------------
vendor:
	rm -rf _build/vendor book/_vendor/ipywidgets book/_vendor/mathjax
	mkdir -p _build/vendor book/_vendor/ipywidgets book/_vendor/mathjax/output/chtml/fonts
	cd _build/vendor && npm pack --silent $(HTML_MANAGER) $(REQUIREJS) $(MATHJAX) \
		&& for t in *.tgz; do mkdir "$${t%.tgz}" && tar -xzf "$$t" -C "$${t%.tgz}"; done
	cp _build/vendor/jupyter-widgets-html-manager-*/package/dist/{embed-amd.js,*.woff2,*.woff,*.ttf,*.eot,*.svg} \
		_build/vendor/requirejs-*/package/require.js book/_vendor/ipywidgets/
	cp _build/vendor/mathjax-*/package/es5/tex-mml-chtml.js book/_vendor/mathjax/
	cp -r _build/vendor/mathjax-*/package/es5/output/chtml/fonts/woff-v2 book/_vendor/mathjax/output/chtml/fonts/

clean:
	rm -rf _build
