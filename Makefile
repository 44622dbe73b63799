# The course's commands.  Every target installs what it needs into .venv first.
#   make book   install, execute every chapter, build the site into _build/html
#   make test   install, run every test (units, chapters under torch and keras, the book build)
#   make lint   ruff over the package, tests, benchmarks and tools
#   make student  the student edition: student/notebooks, every solution replaced by a stub
#   make claims run every chapter for seeds 0-2 under both frameworks, record what each asserts (benchmarks/results/claims-*.json)
#   make smoke-full run every chapter in the full profile with each training cut to two steps, both frameworks (benchmarks/results/smoke-*.json)
#   make bench  measure speed and memory (benchmarks/), write benchmarks/results/<machine>.json, rewrite book/performance.md

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements-lock.txt pyproject.toml | cksum | cut -d' ' -f1)

# Developers and CI keep real datasets beside the project (../shared/data); the chapters find them through
# COURSEKIT_DATA.  Elsewhere (a laptop, Colab) the chapters use ~/.coursekit/data or the shipped samples.
ifeq ($(COURSEKIT_DATA),)
ifneq ($(wildcard ../shared/data),)
export COURSEKIT_DATA := $(abspath ../shared/data)
endif
endif

.PHONY: install browser book test bench claims smoke-full lint student sync lab clean

install: $(STAMP)

$(STAMP): requirements-lock.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "the course needs Python 3.10 or newer"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-lock.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

book: install
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

# Debian's chromium, for the browser test of the built site (tests/test_site.py drives it with Playwright).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test of the site"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: install browser
	$(PY) -m pytest

bench: install
	$(PY) -m benchmarks $(BENCH_ARGS)
	$(PY) -m benchmarks.page
	$(PY) tools/instructor_guide.py book/instructor_guide.md

# About 40 minutes on two cores; CLAIMS_ARGS="--chapters 03_segnet" reruns one chapter into the same file.
claims: install
	$(PY) -m benchmarks.claims $(CLAIMS_ARGS)

# The full profile's sizes, models, data and code paths on this machine, each training cut to two steps
# (COURSEKIT_SMOKE=1, see benchmarks/smoke.py); SMOKE_ARGS="--chapters 04_unet --frameworks keras" runs one.
smoke-full: install
	$(PY) -m benchmarks.smoke $(SMOKE_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks tools book/_ext

student: install
	$(PY) tools/student_edition.py notebooks student/notebooks

sync: install
	$(PY) -m coursekit.profiles book/profiles.md
	$(PY) tools/instructor_guide.py book/instructor_guide.md
	for f in notebooks/*.md book/*.md; do head -2 $$f | grep -q '^jupytext:' && $(VENV)/bin/jupytext --update --to ipynb $$f; done; true

lab: install
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf _build student .pytest_cache
