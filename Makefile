# Thin wrapper: `make test` and `make demo` each install what they need, configure, build.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: deps configure build test test-asan demo fuzz clean

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The torch-free tests under AddressSanitizer + UndefinedBehaviorSanitizer (scripts/test-asan.sh).
test-asan: deps
	scripts/test-asan.sh

demo: build
	scripts/demo.sh $(BUILD)/rlvr

# Every libFuzzer target for FUZZ_SECONDS (fuzz/README.md); fails on any finding.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/install-deps.sh fuzz
	scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD)
