# morello: set up, build, serve and test.
#
#   make run     serve examples/hello.py on http://127.0.0.1:8080 (Ctrl-C stops it)
#   make test    system packages if missing (deps), Rust unit tests, the Python test suite, then
#                a short fuzz run (fuzz-short)
#   make lint    rustfmt, clippy, mypy and the generated-docs check
#   make bench   the side-by-side benchmark; rewrites bench/results/, docs/benchmarks.md and .png
#   make bench-quick  hello and sleep against fastwsgi and granian, morello's ratios (< 2 min)
#   make bench-codec  criterion micro-benchmarks of the HTTP codec (request heads, response head)
#   make soak    1M keep-alive requests + 100k connections; RSS and fds must not grow
#   make deps    install the Debian packages the tests need (curl, nginx), as root
#   make docs    regenerate docs/configuration.md and python/morello/config.pyi
#   make fuzz    fuzz every codec target for FUZZ_SECONDS (default 60) each; fails on a crash
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

.PHONY: setup run test test-rust test-python lint bench bench-quick bench-codec soak deps docs clean fuzz fuzz-short fuzz-tool

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

# `deps` first: it does nothing when the Debian packages are there, and on a fresh machine it
# installs the nginx and curl that the real-client tests start (as root; otherwise it names them).
test: deps test-rust test-python fuzz-short

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
	$(BIN)/python -m mypy --strict python/morello tools/gen_docs.py tools/soak.py examples/hello.py
	$(BIN)/python -m mypy.stubtest morello._morello
	$(BIN)/python tools/gen_docs.py --check

# The side-by-side benchmark (bench/README.md): installs the peers once (bench/setup.sh), runs
# every app against morello and the peers, and regenerates docs/benchmarks.md from the TSV.
BENCH_PEERS ?= bjoern fastwsgi granian-bt8 granian waitress gunicorn-gthread cheroot uwsgi-http11
BENCH_ROUNDS ?= 4
# Extra run.sh options, e.g. BENCH_ARGS="-d 5 -w 1" for shorter runs.
BENCH_ARGS ?=
# The peers' venv that bench/setup.sh makes (run.sh's VENV); it also has matplotlib for the plot.
BENCH_VENV ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/morello-bench/venv
bench: setup
	bench/setup.sh
	bench/run.sh -n -r $(BENCH_ROUNDS) $(BENCH_ARGS) -o bench/results/latest.md hello,big,echo,stream morello $(BENCH_PEERS) rust-limit
	bench/run.sh -r $(BENCH_ROUNDS) $(BENCH_ARGS) -o bench/results/latest.md sleep morello morello-t8 $(BENCH_PEERS)
	bench/run.sh -r $(BENCH_ROUNDS) $(BENCH_ARGS) -o bench/results/latest.md file,flask,pipelined,mixed morello $(BENCH_PEERS) rust-limit
	$(BIN)/python bench/idle.py --rounds $(BENCH_ROUNDS) --out bench/results/idle.md
	$(BENCH_VENV)/bin/python bench/plot.py bench/results/latest.tsv docs/benchmarks.png
	$(BIN)/python bench/summary.py bench/results/latest.tsv > docs/benchmarks.md

deps:
	tools/install-system-deps.sh

# Fuzzing the HTTP codec (docs/fuzzing.md): cargo-fuzz and libFuzzer on stable Rust, with no
# sanitizer by default (`-s none`: the codec has no unsafe code). The
# targets live in fuzz/; each run starts from the committed seeds in fuzz/corpus/<target>/.
# A crash, a timeout or a memory blow-up makes the run, and so make, fail; the input is left in
# fuzz/artifacts/<target>/.
FUZZ_TARGETS := requests chunked differential
FUZZ_SECONDS ?= 60
FUZZ_SHORT_SECONDS ?= 20
CARGO_FUZZ_VERSION := 0.13.2
# `make fuzz FUZZ_SANITIZER=address` builds with AddressSanitizer: cargo-fuzz passes it as a
# -Z flag, which stable rustc accepts only with RUSTC_BOOTSTRAP=1 (2 to 3.5 times slower; its
# quarantine alone takes some 500 MB, hence the higher memory limit).
FUZZ_SANITIZER ?= none
FUZZ_ENV := $(if $(filter none,$(FUZZ_SANITIZER)),,RUSTC_BOOTSTRAP=1)
FUZZ_RSS_MB := $(if $(filter none,$(FUZZ_SANITIZER)),512,2048)
FUZZ_FLAGS := -timeout=10 -rss_limit_mb=$(FUZZ_RSS_MB) -print_final_stats=1 -dict=http.dict

# Installs cargo-fuzz from crates.io once per machine (a couple of minutes); a no-op after.
fuzz-tool:
	@cargo fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz --version $(CARGO_FUZZ_VERSION)

# The campaign: new inputs accumulate in fuzz/generated/<target>/ (not committed). One target
# at a time; `make -j3 fuzz-requests fuzz-chunked fuzz-differential` runs them side by side.
fuzz: fuzz-tool
	cd fuzz && $(FUZZ_ENV) cargo fuzz build -s $(FUZZ_SANITIZER)
	for t in $(FUZZ_TARGETS); do $(MAKE) --no-print-directory fuzz-$$t || exit 1; done

fuzz-%: fuzz-tool
	cd fuzz && $(FUZZ_ENV) cargo fuzz build -s $(FUZZ_SANITIZER) $*
	mkdir -p fuzz/generated/$*
	cd fuzz && $(FUZZ_ENV) cargo fuzz run -s $(FUZZ_SANITIZER) $* generated/$* corpus/$* -- \
		-max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS)

# What make test runs: FUZZ_SHORT_SECONDS per target, from the seeds alone (a scratch corpus
# each time, so the result does not depend on earlier runs).
fuzz-short: fuzz-tool
	cd fuzz && cargo fuzz build -s none
	@cd fuzz && scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && \
	for t in $(FUZZ_TARGETS); do \
		mkdir -p "$$scratch/$$t" && \
		cargo fuzz run -s none $$t "$$scratch/$$t" corpus/$$t -- \
			-max_total_time=$(FUZZ_SHORT_SECONDS) $(FUZZ_FLAGS) >"$$scratch/$$t.log" 2>&1 || { \
			grep -m1 -A2 panicked "$$scratch/$$t.log"; tail -n 12 "$$scratch/$$t.log"; \
			echo "fuzz target $$t failed: input in fuzz/artifacts/$$t/"; exit 1; }; \
		echo "fuzz $$t: $$(grep -E '^Done' "$$scratch/$$t.log")"; \
	done

docs: setup
	$(BIN)/python tools/gen_docs.py

# hello and sleep against fastwsgi and granian in under 2 minutes, printing morello's ratios.
bench-quick: setup
	bench/setup.sh
	bench/quick.sh

# The codec alone, without sockets or Python (crates/morello-http/benches/codec.rs).
bench-codec:
	cargo bench -p morello-http --bench codec

# 1,000,000 keep-alive requests and 100,000 new connections through one server: RSS must stay
# flat after warm-up and open descriptors return to their baseline (tools/soak.py).
soak: setup
	$(BIN)/python tools/soak.py

clean:
	rm -rf $(VENV) target .pytest_cache .mypy_cache dist
	rm -f python/morello/_morello*.so
	find python tests examples tools -name __pycache__ -type d -prune -exec rm -rf {} +
