# edge-retry. `make demo` and `make test` each install what they need first (scripts/setup.sh).
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: setup pkg test test-rust test-js demo bench storm clean

setup:
	@bash scripts/setup.sh

pkg: setup
	@bash scripts/build-pkg.sh

# Every test: the core natively (unit, scenario, property), the no_std proof, lints, the
# fuzz corpus replay, then the built package in Node, workerd and headless Chromium.
test: setup
	@bash scripts/test.sh

demo: pkg
	@node scripts/demo.mjs

bench: pkg
	@bash scripts/bench.sh

storm:
	@bash scripts/storm-plots.sh

clean:
	rm -rf pkg target
