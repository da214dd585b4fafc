# sinktrap. `make run` and `make test` are all a fresh Debian 12 machine needs (as root).
BUILD    ?= build
ASAN     ?= build-asan
FUZZ     ?= build-fuzz
BENCHES  = dns trap events capture web
JOBS     ?= 2
PYTHON   ?= /usr/bin/python3
FUZZTIME ?= 20

.PHONY: all webdeps build run install uninstall test test-deps unit asan e2e-asan fuzz fuzz-build fuzz-smoke e2e bench bench-deps $(addprefix bench-,$(BENCHES)) format format-check clean deps

all: build

deps:
	@scripts/deps.sh build

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

# The page's npm packages (uPlot, and playwright-core for the browser tests),
# from web/package-lock.json; without npm the page is built without its chart.
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then cd web && npm ci --no-audit --no-fund; \
	else echo "npm is missing: the page is built without its chart" >&2; fi

webdeps: web/node_modules/.package-lock.json

build: deps webdeps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j$(JOBS)

# Runs in the foreground on the embedded default configuration (Ctrl-C stops it).
run: build
	./$(BUILD)/sinktrap run

# As a service started at boot (docs/deployment.md): the binary, the unit, a
# configuration for a sinkhole host (kept if there is one), the workers' user.
PREFIX        ?= /usr/local
SYSCONFDIR    ?= /etc
LOCALSTATEDIR ?= /var
UNITDIR       ?= /etc/systemd/system
SINKTRAP_USER ?= sinktrap
INSTALL_ENV = PREFIX='$(PREFIX)' SYSCONFDIR='$(SYSCONFDIR)' LOCALSTATEDIR='$(LOCALSTATEDIR)' \
	UNITDIR='$(UNITDIR)' SINKTRAP_USER='$(SINKTRAP_USER)' DESTDIR='$(DESTDIR)' BUILD='$(BUILD)'

install: build
	$(INSTALL_ENV) scripts/install.sh install

uninstall:
	$(INSTALL_ENV) scripts/install.sh uninstall

test-deps:
	@scripts/deps.sh test

unit: test-deps build
	meson test -C $(BUILD) --print-errorlogs --num-processes $(JOBS)

# The unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
$(ASAN)/build.ninja:
	meson setup $(ASAN) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

asan: test-deps $(ASAN)/build.ninja
	ninja -C $(ASAN) -j$(JOBS)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
		meson test -C $(ASAN) --print-errorlogs --num-processes $(JOBS)

$(FUZZ)/build.ninja:
	CC=clang meson setup $(FUZZ) --buildtype=debug -Dfuzz=true -Db_lundef=false

fuzz-build: test-deps $(FUZZ)/build.ninja
	ninja -C $(FUZZ) -j$(JOBS)

# Every fuzz target briefly (part of `make test`); `make fuzz FUZZTIME=600` for longer.
fuzz-smoke: fuzz-build
	scripts/fuzz.sh $(FUZZ) 10

fuzz: fuzz-build
	scripts/fuzz.sh $(FUZZ) $(FUZZTIME)

# The end-to-end suites again (all but the install ones, which install the
# build/ binary), against the sanitizer build: a memory or undefined-behaviour
# fault in a worker's log, or a command's exit status of 86 after one, fails
# the test that ran it.
e2e-asan: asan
	SINKTRAP_BIN=$(CURDIR)/$(ASAN)/sinktrap SINKTRAP_SANITIZED=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(PYTHON) -m pytest tests/e2e/dns tests/e2e/trap tests/e2e/capture tests/e2e/events tests/e2e/web \
		tests/e2e/parent \
		-q -p no:cacheprovider

# End-to-end tests last: their summary line closes the run.
e2e: test-deps build
	$(PYTHON) -m pytest tests/e2e -q -p no:cacheprovider

test: unit asan fuzz-smoke e2e-asan e2e

# Every benchmark in bench/, one after the other (each stops itself; results
# in its build-bench/ folder, the figures in docs/benchmarks.md). Each also
# runs alone: make bench-dns, bench-trap, bench-events, bench-capture, bench-web.
bench: $(addprefix bench-,$(BENCHES))

bench-deps:
	@scripts/deps.sh bench

$(addprefix bench-,$(BENCHES)): bench-%: bench-deps build
	bench/$*/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
