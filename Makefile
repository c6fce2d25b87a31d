# Front door. Everything real happens in CMake; these targets only chain the steps.
#   make          configure and build everything
#   make test     install missing packages, build, run the test suite (without `slow` tests)
#   make test-all the whole suite, slow tests included
#   make bench    run the Google Benchmark programs
#   make docs     Doxygen HTML under build/docs/html
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps configure build test test-all bench docs clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: $(BUILD_DIR)/build.ninja

build: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -LE slow -j $(JOBS) $(CTEST_ARGS)

test-all: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

bench: build
	@for b in $(BUILD_DIR)/bench/bench_*; do [ -x "$$b" ] && echo "== $$b" && "$$b"; done

docs: configure
	cmake --build $(BUILD_DIR) --target docs

clean:
	rm -rf $(BUILD_DIR)
