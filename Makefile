# chatd: `make run` serves on embedded SQLite, `make test` runs every test. Both install what they
# need from Debian's packages first (as root, or through sudo).

SHELL := /bin/bash
JOBS ?= $(shell nproc)
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
DATA_DIR ?= ./data
PORT ?= 5000

DEB_PACKAGES := build-essential cmake ninja-build ccache pkg-config \
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev \
  libsqlite3-dev libsodium-dev libjwt-dev libspdlog-dev libfmt-dev libcli11-dev \
  libgtest-dev libgmock-dev libbenchmark-dev libssl-dev nodejs wrk

export CCACHE_DIR ?= $(HOME)/.cache/ccache

.PHONY: deps build build-asan run test test-unit test-e2e test-asan bench format clean

# Installs only what is missing, so a second run does not touch apt at all.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build/release/build.ninja:
	cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release

build/asan/build.ninja:
	cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Asan

build: deps build/release/build.ninja
	cmake --build build/release -j $(JOBS)

build-asan: deps build/asan/build.ninja
	cmake --build build/asan -j $(JOBS)

run: build
	./build/release/chatd --port $(PORT) --data-dir $(DATA_DIR)

# Everything: unit and end-to-end tests on the release build, then both again under ASan+UBSan.
test: build build-asan
	$(MAKE) --no-print-directory test-unit BUILD=build/release
	$(MAKE) --no-print-directory test-e2e BUILD=build/release
	$(MAKE) --no-print-directory test-asan
	@echo "make test: all suites passed"

BUILD ?= build/release
test-unit:
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-e2e:
	CHATD_BIN=$(abspath $(BUILD))/chatd node --test --test-concurrency=1 tests/e2e/

test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) --no-print-directory test-unit BUILD=build/asan
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) --no-print-directory test-e2e BUILD=build/asan

bench: build
	./bench/rest_bench.sh

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf build
