# chatd: `make run` serves on embedded SQLite, `make test` runs every test. Both install what they
# need from Debian's packages first (as root, or through sudo).

SHELL := /bin/bash
JOBS ?= $(shell nproc)
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
DATA_DIR ?= ./data
PORT ?= 5000

DEB_PACKAGES := build-essential cmake ninja-build ccache pkg-config \
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev \
  libsqlite3-dev libpq-dev libhiredis-dev redis-server libsodium-dev libjwt-dev libspdlog-dev libfmt-dev libcli11-dev \
  libjemalloc-dev libgtest-dev libgmock-dev libbenchmark-dev libssl-dev wrk clang libclang-rt-14-dev \
  postgresql haproxy iproute2 sqlite3 libmagic-dev libvips-dev

export CCACHE_DIR ?= $(HOME)/.cache/ccache

FUZZ_TARGETS := utf8 token json_input eio_payload sio_packet ws_frame client_address multipart search_text byte_range
FUZZ_SECONDS ?= 12

.PHONY: deps build build-asan build-tsan build-fuzz run cluster test test-unit test-e2e test-e2e-pg \
  test-cluster test-asan test-tsan bench-send test-fuzz bench bench-rest bench-sio bench-cluster format clean

# Installs only what is missing, so a second run does not touch apt at all. Node and npm are
# taken from wherever they already are (a NodeSource nodejs ships its own npm).
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build/release/build.ninja:
	cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release

build/asan/build.ninja:
	cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Asan

build/tsan/build.ninja:
	cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Tsan

build/fuzz/build.ninja:
	CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCHATD_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_FLAGS="-O1 -g"

build: deps build/release/build.ninja
	cmake --build build/release -j $(JOBS)

build-asan: deps build/asan/build.ninja
	cmake --build build/asan -j $(JOBS)

build-tsan: deps build/tsan/build.ninja
	cmake --build build/tsan -j $(JOBS)

build-fuzz: deps build/fuzz/build.ninja
	cmake --build build/fuzz -j $(JOBS)

run: build
	./build/release/chatd --port $(PORT) --data-dir $(DATA_DIR)

# PostgreSQL, Redis, CLUSTER_NODES chatd nodes (3) and HAProxy on 127.0.0.1:CLUSTER_PORT (5000),
# all in CLUSTER_DIR (./cluster-data); scripts/cluster.sh down stops them (README.md, "Cluster").
cluster: build
	CHATD_BIN=$(abspath build/release)/chatd scripts/cluster.sh up

# Everything: unit and end-to-end tests on the release build, both again under ASan+UBSan, the
# unit and real-time tests under TSan, and each fuzz target for FUZZ_SECONDS.
test: build build-asan build-tsan build-fuzz
	$(MAKE) --no-print-directory test-unit BUILD=build/release
	$(MAKE) --no-print-directory test-e2e BUILD=build/release
	$(MAKE) --no-print-directory test-e2e-pg BUILD=build/release
	$(MAKE) --no-print-directory test-cluster BUILD=build/release
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-tsan
	$(MAKE) --no-print-directory test-fuzz
	@echo "make test: all suites passed"

# The PostgreSQL store's tests get a throwaway server (scripts/pg.sh), stopped and removed however
# ctest ends.
BUILD ?= build/release
test-unit:
	@pg=$$(mktemp -d "$${TMPDIR:-/tmp}/chatd-pg.XXXXXX"); \
	trap 'scripts/pg.sh stop "$$pg"; rm -rf "$$pg"' EXIT; \
	url=$$(scripts/pg.sh start "$$pg") && echo "test-unit: PostgreSQL at $$url" && \
	CHATD_TEST_DATABASE_URL=$$url ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-e2e: tests/socketio/node_modules/.package-lock.json tests/realtime/node_modules/.package-lock.json
	CHATD_BIN=$(abspath $(BUILD))/chatd node --test --test-concurrency=1 tests/e2e/
	CHATD_BIN=$(abspath $(BUILD))/chatd node --test --test-concurrency=1 tests/realtime/
	cd tests/socketio && SIO_BIN=$(abspath $(BUILD))/sio-conformance \
	  node --test --test-concurrency=1 .

# The account, security and privacy suites again with every chatd on PostgreSQL (a throwaway
# server, a database per chatd): what they check must hold on both stores.
E2E_PG_SUITES := tests/e2e/auth.test.mjs tests/e2e/two-factor.test.mjs tests/e2e/privacy.test.mjs \
  tests/e2e/retention.test.mjs tests/e2e/admin.test.mjs tests/realtime/sessions.test.mjs \
  tests/realtime/rich.test.mjs tests/realtime/search.test.mjs tests/realtime/attachments.test.mjs
test-e2e-pg: tests/realtime/node_modules/.package-lock.json
	@pg=$$(mktemp -d "$${TMPDIR:-/tmp}/chatd-pg.XXXXXX"); \
	trap 'scripts/pg.sh stop "$$pg"; rm -rf "$$pg"' EXIT; \
	url=$$(scripts/pg.sh start "$$pg") && echo "test-e2e-pg: PostgreSQL at $$url" && \
	CHATD_TEST_DATABASE_URL=$$url CHATD_BIN=$(abspath $(BUILD))/chatd \
	  node --test --test-concurrency=1 $(E2E_PG_SUITES)

# Three nodes on PostgreSQL + Redis behind HAProxy (scripts/cluster.sh, on free loopback ports):
# cross-node delivery, presence and typing, a node killed, Redis and PostgreSQL stopped.
test-cluster: tests/realtime/node_modules/.package-lock.json
	CHATD_BIN=$(abspath $(BUILD))/chatd node --test --test-concurrency=1 tests/cluster/

# The official Socket.IO client, at the versions the lockfile pins.
tests/socketio/node_modules/.package-lock.json: tests/socketio/package-lock.json
	cd tests/socketio && npm ci --no-audit --no-fund
tests/realtime/node_modules/.package-lock.json: tests/realtime/package-lock.json
	cd tests/realtime && npm ci --no-audit --no-fund

test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) --no-print-directory test-unit BUILD=build/asan
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 CHATD_TIME_SCALE=3 \
	  $(MAKE) --no-print-directory test-e2e BUILD=build/asan

# ThreadSanitizer: the unit tests, then the real-time suite against chatd on 4 network threads
# (CHATD_THREADS, read by tests/e2e/harness.mjs), where sockets, rooms and fan-out cross threads.
# The first report stops the process with exit code 66: ctest fails, and in the e2e run the
# harness's stopClean sees a non-zero exit (and the "ThreadSanitizer" text) and fails the file.
# Under TSan the suite's CPU-bound tests run about 2x slower than on the release build (and it
# passes even unscaled on a loaded 2-core machine); a time scale of 3, as for ASan, leaves margin.
TSAN_OPTS := halt_on_error=1:second_deadlock_stack=1:exitcode=66:suppressions=$(abspath tests/tsan.supp)
test-tsan: build-tsan tests/realtime/node_modules/.package-lock.json
	TSAN_OPTIONS=$(TSAN_OPTS) $(MAKE) --no-print-directory test-unit BUILD=build/tsan
	TSAN_OPTIONS=$(TSAN_OPTS) CHATD_THREADS=4 CHATD_TIME_SCALE=3 \
	  CHATD_BIN=$(abspath build/tsan)/chatd node --test --test-concurrency=1 tests/realtime/
	TSAN_OPTIONS=$(TSAN_OPTS) CHATD_THREADS=4 CHATD_TIME_SCALE=3 \
	  $(MAKE) --no-print-directory test-cluster BUILD=build/tsan

# New inputs go to build/fuzz/corpus; the seeds in fuzz/corpus are only read.
test-fuzz: build-fuzz
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  build/fuzz/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
	    build/fuzz/corpus/$$t fuzz/corpus/$$t 2>&1 | grep -E "^(stat::number_of_executed_units|Done|==|SUMMARY)" ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

# The product benchmark (chatd against the Node reference, one run); it rewrites the generated
# block at the top of docs/BENCHMARKS.md. The REST-only benchmark is bench-rest.
bench: build
	node bench/product/product_bench.mjs --write

bench-rest: build
	./bench/rest_bench.sh

# Socket.IO fan-out and idle memory, chatd's library against the reference Node server.
bench-sio: build
	./bench/sio/sio_bench.sh

# Durable sends over Socket.IO (ack after commit) against SQLite's raw batched-insert rate.
bench-send: build
	./bench/send/send_bench.sh

# Scale-out: the same durable-send and fan-out loads on one chatd on SQLite, one on PostgreSQL and
# three on PostgreSQL + Redis behind HAProxy (scripts/cluster.sh), in one run of about 6 minutes;
# it rewrites its block of docs/BENCHMARKS.md.
bench-cluster: build
	node bench/cluster/cluster_bench.mjs --write

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf build
