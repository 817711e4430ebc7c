# The README's two commands: `make demo` (the main job) and `make test` (the test suite).
# Both build their own virtual environment in .venv from nothing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out

.PHONY: demo test venv dot browser bench gallery golden clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,viz,plot,progress,threads]"
	# PyTorch is only for the parity tests; without it they skip with a reason.
	-$(PY) -m pip install -q "torch==2.13.0"
	touch $@

# Graphviz's `dot` renders the graphs: install it when we are root, else say how.
dot:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq graphviz >/dev/null; \
	  else \
	    echo "Graphviz's 'dot' is missing: install it (Debian/Ubuntu: sudo apt-get install graphviz;" \
	         "macOS: brew install graphviz). Tests that render will skip."; \
	  fi; }

# Headless Chromium and its WebDriver run the explorer page's tests (tests/test_explore_browser.py):
# installed like `dot` when we are root, else the tests skip and say why.
browser:
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "Chromium or chromedriver is missing: install them (Debian/Ubuntu: sudo apt-get install" \
	         "chromium chromium-driver). The explorer's browser tests will skip."; \
	  fi; }

demo: venv dot
	$(PY) -m viz demo --out $(OUT)

# One BLAS thread: the tests use small matrices, where extra threads only fight over the cores
# (and results no longer depend on how many cores the machine has).
test: venv dot browser
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 HYPOTHESIS_PROFILE=ci $(PY) -m pytest

bench: venv
	$(PY) -m benchmarks

gallery: venv dot
	$(PY) -m viz.gallery

golden: venv dot
	$(PY) -m tests.regenerate_golden

clean:
	rm -rf $(VENV) $(OUT) *.egg-info
