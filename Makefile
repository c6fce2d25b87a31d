# Front door. Everything real happens in CMake; these targets only chain the steps.
#   make          configure and build everything
#   make test     install missing packages, build, run the test suite (without `slow` tests)
#   make test-all the whole suite, slow tests included
#   make test-debian13        the test suite in a Debian 13 chroot (root; scripts/test-platform.sh)
#   make test-debian-testing  the same in a Debian testing chroot (chroots in build/platforms/)
#   make bench    run the Google Benchmark programs
#   make test-asan the suite of `make test` built with AddressSanitizer + UBSan in build-asan/
#                 (scripts/test-asan.sh)
#   make fuzz     build the libFuzzer targets (clang, ASan + UBSan) in build-fuzz/ and run each
#                 for FUZZ_SECONDS (default 60) on seeds from the fixtures and samples
#                 (scripts/fuzz.sh; FUZZ_TARGETS="csv json": only those)
#   make docs     Doxygen HTML under build/docs/html
#   make paper    every figure and table of the paper, then paper.pdf (PROFILE=smoke|mini|full;
#                 SHARD=i/n: only the i-th of n parts of the runs, for n machines)
#   make burn     delete the paper's generated results (runs included) for PROFILE
#   make pretrain MLM-pretrain the mini encoder into data/models/mini-distilbert/ (recipe below)
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CTEST_ARGS ?=
# Extra CMake configure flags, e.g. another LibTorch: CMAKE_ARGS=-DCMAKE_PREFIX_PATH=/opt/libtorch
CMAKE_ARGS ?=
# Warnings in loraft's own code (not LibTorch's headers) are errors on the compilers the suite
# is tested with (g++ 12, 14, 16); WERROR=OFF for another compiler.
WERROR ?= ON
# Test labels `make test` leaves out (a CTest regex; the Docker build uses 'slow|cuda|docs').
CTEST_EXCLUDE ?= slow

.PHONY: all deps configure build test test-all test-asan test-debian13 test-debian-testing bench fuzz docs clean pretrain paper burn

all: build

deps:
	@scripts/install-deps.sh

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DLORAFT_WERROR=$(WERROR) $(CMAKE_ARGS)

configure: $(BUILD_DIR)/build.ninja

build: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -LE '$(CTEST_EXCLUDE)' -j $(JOBS) $(CTEST_ARGS)

test-all: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

test-debian13 test-debian-testing:
	JOBS=$(JOBS) CTEST_ARGS="$(CTEST_ARGS)" CTEST_EXCLUDE='$(CTEST_EXCLUDE)' WERROR=$(WERROR) scripts/test-platform.sh $(@:test-%=%)

bench: build
	@for b in $(BUILD_DIR)/bench/bench_*; do [ -x "$$b" ] && echo "== $$b" && "$$b"; done

# Sanitizers (docs/reliability.md, "Sanitizers"): the library, programs and tests instrumented
# with AddressSanitizer + UndefinedBehaviorSanitizer, every report fatal.
ASAN_BUILD_DIR ?= build-asan

test-asan: deps
	ASAN_BUILD_DIR=$(ASAN_BUILD_DIR) JOBS=$(JOBS) scripts/test-asan.sh $(CTEST_ARGS)

# Fuzzing (docs/reliability.md, "Fuzzing"): a build folder of its own, instrumented with clang's
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer; findings under
# $(FUZZ_BUILD_DIR)/fuzz/findings/<target>/, and a non-zero exit status.
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

fuzz:
	@scripts/install-deps.sh --fuzz
	FUZZ_BUILD_DIR=$(FUZZ_BUILD_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) WERROR=$(WERROR) scripts/fuzz.sh $(FUZZ_TARGETS)

docs: configure
	cmake --build $(BUILD_DIR) --target docs

clean:
	rm -rf $(BUILD_DIR)

# The paper (paper/README.md): one program per figure or table, runs reused from
# paper/build/<profile>/runs, so that a second `make paper` trains nothing and an interrupted
# one continues. TeX Live is optional: without it the figures are made and the PDF is not.
PROFILE ?= mini
PAPER_OUT ?= paper/build/$(PROFILE)

paper: build
	@scripts/install-deps.sh --tex || echo "make paper: TeX Live missing: figures only" >&2
	BUILD_DIR=$(BUILD_DIR) scripts/paper.sh --profile $(PROFILE) --out $(PAPER_OUT) $(if $(SHARD),--shard $(SHARD))

burn:
	rm -rf $(PAPER_OUT)

# The embedded mini encoder: masked-language-model pretraining on the full IMDB train split
# (scripts/fetch-data.sh imdb, or --mirror ARCHIVE without internet) plus the AG News
# training sample (PRETRAIN_AGNEWS=<full train.csv> for all 120,000 rows). Same seed and
# thread count give the same numbers on the CPU. data/models/mini-distilbert/PRETRAINING.md
# records what this recipe gives; docs/pretraining.md how it was chosen.
PRETRAIN_IMDB ?= data/full/imdb
PRETRAIN_AGNEWS ?= data/samples/ag_news/train.csv
PRETRAIN_OUT ?= data/models/mini-distilbert
PRETRAIN_FLAGS ?= --layers 2 --dim 128 --heads 2 --hidden-dim 512 --max-positions 128 --dropout 0 \
	--line-by-line --block-size 128 --validation-percent 1 --max-steps 12000 --batch-size 8 \
	--cls-bow-weight 1 --lr 1e-3 --warmup-steps 200 --seed 42 --threads 2 --checkpoint-every 1000

pretrain: build
	@test -d $(PRETRAIN_IMDB) || { echo "make pretrain: $(PRETRAIN_IMDB) missing: run scripts/fetch-data.sh imdb (offline: --mirror ARCHIVE)" >&2; exit 2; }
	$(BUILD_DIR)/apps/loraft-pretrain --corpus imdb:$(PRETRAIN_IMDB):train \
	  --corpus ag_news:$(PRETRAIN_AGNEWS) $(PRETRAIN_FLAGS) \
	  --runs-dir runs/pretrain --out $(PRETRAIN_OUT) --dtype float16
	scripts/pretraining-curve.sh runs/pretrain/$$(jq -r .run $(PRETRAIN_OUT)/pretraining.json) $(PRETRAIN_OUT)/loss-curve.png
