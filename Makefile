# morello: set up, build, serve and test.
#
#   make run     serve examples/hello.py on http://127.0.0.1:8080 (Ctrl-C stops it)
#   make test    Rust unit tests, then the Python test suite
#   make lint    rustfmt, clippy, mypy and the generated-docs check
#   make bench   the side-by-side benchmark; rewrites bench/results/ and docs/benchmarks.md
#   make deps    install the Debian packages the tests need (curl, nginx), as root
#   make docs    regenerate docs/configuration.md and python/morello/config.pyi
#   make clean   remove the virtualenv and every build artefact
#
# Both run and test first create .venv, install requirements-dev.txt and build the engine in
# release mode into it (maturin develop: the Python sources are used in place). Stamp files
# under .venv make a re-run skip whatever is already up to date.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEPS_STAMP := $(VENV)/.deps.stamp
BUILD_STAMP := $(VENV)/.build.stamp
# The Rust sources and manifests the engine is built from.
ENGINE_SOURCES := Cargo.toml Cargo.lock pyproject.toml $(shell find crates -name '*.rs' -o -name Cargo.toml)

# Rebuild if the installed extension module has gone missing (e.g. after git clean).
ifeq ($(wildcard python/morello/_morello*.so),)
$(shell rm -f $(BUILD_STAMP))
endif

.PHONY: setup run test test-rust test-python lint bench deps docs clean

setup: $(BUILD_STAMP)

$(DEPS_STAMP): requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(BUILD_STAMP): $(DEPS_STAMP) $(ENGINE_SOURCES)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/maturin develop --release
	touch $@

run: setup
	$(BIN)/python -m morello examples.hello:app --bind 127.0.0.1:8080

test: test-rust test-python

# PyO3 test binaries link libpython: build them against the venv's interpreter and let the
# dynamic loader find its shared library.
test-rust: setup
	PYO3_PYTHON=$(CURDIR)/$(BIN)/python \
	LD_LIBRARY_PATH="$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH}" \
	cargo test --workspace

test-python: setup
	$(BIN)/python -m pytest

lint: setup
	cargo fmt --all --check
	PYO3_PYTHON=$(CURDIR)/$(BIN)/python cargo clippy --workspace --all-targets -- -D warnings
	$(BIN)/python -m mypy --strict python/morello tools/gen_docs.py examples/hello.py
	$(BIN)/python -m mypy.stubtest morello._morello
	$(BIN)/python tools/gen_docs.py --check

# The side-by-side benchmark (bench/README.md): installs the peers once (bench/setup.sh), runs
# every app against morello and the peers, and regenerates docs/benchmarks.md from the TSV.
BENCH_PEERS ?= bjoern fastwsgi granian-bt8 granian waitress gunicorn-gthread cheroot uwsgi-http11
BENCH_ROUNDS ?= 2
bench: setup
	bench/setup.sh
	bench/run.sh -n -r $(BENCH_ROUNDS) -o bench/results/latest.md hello,big,echo,stream morello $(BENCH_PEERS) rust-limit
	bench/run.sh -r $(BENCH_ROUNDS) -o bench/results/latest.md sleep morello morello-t8 $(BENCH_PEERS)
	$(BIN)/python bench/summary.py bench/results/latest.tsv > docs/benchmarks.md

deps:
	tools/install-system-deps.sh

docs: setup
	$(BIN)/python tools/gen_docs.py

clean:
	rm -rf $(VENV) target .pytest_cache .mypy_cache dist
	rm -f python/morello/_morello*.so
	find python tests examples tools -name __pycache__ -type d -prune -exec rm -rf {} +
