# A thin front over meson: the build is meson's (meson.build).
#   make run    install what is missing, build, run examples/squares.zpl
#   make test   build and run the whole test suite
#   make bench  release build, then the benchmarks against their peers
#   make fuzz   the libFuzzer targets, FUZZ_SECONDS (300) each
#   make soak   50M items under SIGKILLs every 50 ms, ipc then tcp (SOAK_ITEMS)

SHELL := /bin/bash
BUILD ?= build
MESON_OPTS ?=

.PHONY: all deps build run test bench fuzz soak clean

all: build

deps:
	@bash .ci/deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	$(BUILD)/troupe run examples/squares.zpl

# meson's summary is turned into one "N passed, N failed" line for CI.
test: build
	@set -o pipefail; meson test -C $(BUILD) --print-errorlogs --num-processes 2 2>&1 \
	  | tee $(BUILD)/test.log; rc=$$?; \
	  count() { awk -v k="$$1:" '$$1 == k {print $$2}' $(BUILD)/test.log; }; \
	  ok=$$(count Ok); fail=$$(count Fail); to=$$(count Timeout); skip=$$(count Skipped); \
	  echo "tests: $${ok:-0} passed, $$(( $${fail:-0} + $${to:-0} )) failed, $${skip:-0} skipped"; \
	  exit $$rc

# A release build beside the debug one, then troupe against its peers.
bench: deps
	@[ -f build-release/build.ninja ] || meson setup build-release --buildtype=release
	ninja -C build-release
	/usr/bin/python3 bench/run --build build-release

# The fuzz targets for FUZZ_SECONDS each (make test runs a short fixed count).
FUZZ_SECONDS ?= 300
fuzz: build
	bash tests/fuzz.sh $(BUILD) . $(FUZZ_SECONDS)

# The long chaos soak (tests/soak.sh), not part of make test: SOAK_ITEMS
# (50000000) items, a random instance of every stage killed every 50 ms.
soak: build
	bash tests/soak.sh $(BUILD) .

clean:
	rm -rf $(BUILD) build-release
