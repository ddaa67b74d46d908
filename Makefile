# Ducat - plain GNU Makefile. See docs/ARCHITECTURE.md for why plain make.
#
#   make            build libducat (static + shared), tools and tests
#   make check      install missing packages, build, run every test
#   make check-asan the same under AddressSanitizer + UBSan (no recovery)
#   make run        build, create a dev instance in ./var and serve it on 127.0.0.1:8080
#   make bench-core core benchmark (Ed25519 vs chain verification, bytes/hop)
#   make bench-offline offline payment: payee accept vs raw Ed25519, bytes on the wire
#   make bench-store store: SQLite and PostgreSQL transfers/deposits per s vs raw commits
#   make bench-scale 1, 2 and 3 ducatd on one PostgreSQL: transfers/s, CPU and WAL per transfer
#   make fuzz       libFuzzer on every decoder (clang), FUZZ_SECONDS each
#   make fmt / lint clang-format rewrite / style + static checks
#   make deb        the Debian package (build-deb/), checked by lintian
#   make man        man pages from the programs' help (build/man)
#   make install PREFIX=/usr/local

PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
VERSION := 0.1.0
# The config ducatd reads without -c or $$DUCATD_CONFIG (the Debian package's place).
SYSCONFDIR ?= /etc

WARN   := -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion \
          -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2 -Wundef \
          -Wcast-qual -Wwrite-strings -Werror
OPT    ?= -O2
CFLAGS ?= -g $(OPT)
SAN    ?=
PKGS   := libsodium
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
SRV_PKGS   := sqlite3 libmicrohttpd jansson
# The PostgreSQL backend (store_pg.c) is built when libpq is installed;
# scripts/deps.sh installs it, and make check tests both backends.
PG_CFLAGS  := $(shell pkg-config --cflags libpq 2>/dev/null)
PG_LIBS    := $(shell pkg-config --libs libpq 2>/dev/null)
HAVE_PG    := $(if $(PG_LIBS),1)
SRV_LIBS   := $(shell pkg-config --libs $(SRV_PKGS) 2>/dev/null) $(PG_LIBS) -lpthread
TEST_LIBS  := $(shell pkg-config --libs libcurl jansson 2>/dev/null) -lpthread
# ducat tap talks to a PC/SC reader through pcsc-lite (cmd_nfc.c); armor
# becomes QR codes with libqrencode and libpng (qr.c).
CLI_PKGS   := libpcsclite libqrencode libpng
CLI_CFLAGS := $(shell pkg-config --cflags $(CLI_PKGS) 2>/dev/null)
CLI_LIBS   := $(shell pkg-config --libs $(CLI_PKGS) 2>/dev/null)
ALL_CFLAGS  = -std=c11 $(WARN) $(CFLAGS) $(SAN) -fPIC -D_POSIX_C_SOURCE=200809L \
              -Iinclude -Isrc $(PKG_CFLAGS) -DDC_VERSION='"$(VERSION)"'
LDLIBS      = $(PKG_LIBS)

CORE_SRC  := $(sort $(wildcard src/core/*.c))
CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/%.o)
LIB_A     := $(BUILD)/libducat.a
LIB_SO    := $(BUILD)/libducat.so
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN  := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_NAMES:= $(FUZZ_SRC:fuzz/fuzz_%.c=%)
REPLAY_BIN:= $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
TOOLS     := $(BUILD)/tools/ducat-selfcheck $(BUILD)/tools/ducat-vectors $(BUILD)/tools/ducat-errors
SRV_SRC   := $(filter-out $(if $(HAVE_PG),,src/store/store_pg.c),$(sort $(wildcard src/store/*.c src/server/*.c src/server/*/*.c)))
SRV_OBJ   := $(SRV_SRC:%.c=$(BUILD)/%.o)
DUCATD    := $(BUILD)/ducatd
GEN       := $(BUILD)/gen/schema_sqlite.h $(BUILD)/gen/schema_pg.h $(BUILD)/gen/calendar_default.h \
             $(BUILD)/gen/console.h
# The admin console's page, script and style (served by h_console.c), in this order.
CONSOLE_WEB := web/console.html web/console.js web/console.css
WAL_SRC   := $(sort $(wildcard src/wallet/*.c))
WAL_OBJ   := $(WAL_SRC:%.c=$(BUILD)/%.o)
WAL_LIB   := $(BUILD)/libducat-wallet.a
CLI_SRC   := $(sort $(wildcard src/cli/*.c))
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/%.o)
DUCAT     := $(BUILD)/ducat
SRV_LIB   := $(BUILD)/libducatd.a
SRVT_SRC  := $(sort $(wildcard tests/server/test_*.c))
SRVT_BIN  := $(SRVT_SRC:tests/server/%.c=$(BUILD)/tests/%)
# test_api_failover needs a primary and a standby: tests/pg_failover.sh runs it;
# test_api_pgtimeout needs PostgreSQL (it makes commits wait): PG_RUNS runs it
PG_ONLY_SRC := tests/api/test_api_failover.c tests/api/test_api_pgtimeout.c
API_SRC   := $(filter-out $(PG_ONLY_SRC),$(sort $(wildcard tests/api/test_*.c)))
FAILOVER_BIN := $(BUILD)/tests/test_api_failover $(BUILD)/tests/test_api_pgtimeout
API_BIN   := $(API_SRC:tests/api/%.c=$(BUILD)/tests/%)
E2E_SRC   := $(sort $(wildcard tests/e2e/test_*.c))
E2E_BIN   := $(E2E_SRC:tests/e2e/%.c=$(BUILD)/tests/%)
# The storage fault shims (LD_PRELOAD into ducatd by tests/api/test_api_fault.c):
# SQLite's VFS, and PostgreSQL's connection when libpq is there.
FAULT_SO  := $(BUILD)/tests/libvfsfault.so $(if $(HAVE_PG),$(BUILD)/tests/libpqfault.so)

.PHONY: deb man demo all deps check check-asan check-failover run run-tests bench-core bench-server bench-server-build bench-scale bench-store bench-offline fuzz fmt lint install clean
all: $(LIB_A) $(LIB_SO) $(TOOLS) $(TEST_BIN) $(REPLAY_BIN) $(BUILD)/ducat.pc $(BUILD)/ducat-wallet.pc $(DUCATD) $(WAL_LIB) $(if $(CLI_SRC),$(DUCAT)) $(SRVT_BIN) $(API_BIN) $(FAILOVER_BIN) $(E2E_BIN) \
     $(FAULT_SO)

deps:
	@scripts/deps.sh build

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# ducatd: server and store, linked with the core.
$(BUILD)/gen/schema_sqlite.h: $(sort $(wildcard src/store/schema/sqlite/*.sql)) scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh schema_sqlite $(sort $(wildcard src/store/schema/sqlite/*.sql)) > $@

$(BUILD)/gen/schema_pg.h: $(sort $(wildcard src/store/schema/pg/*.sql)) scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh schema_pg $(sort $(wildcard src/store/schema/pg/*.sql)) > $@

$(BUILD)/gen/calendar_default.h: data/calendar-cn.txt scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh calendar_default $< > $@

# The test calendar every test ducatd gets (tests/api/harness.c, srv_init).
$(BUILD)/gen/calendar_test.h: tests/api/calendar-test.txt scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh calendar_test $< > $@

$(BUILD)/gen/console.h: $(CONSOLE_WEB) scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh console_files $(CONSOLE_WEB) > $@

$(SRV_OBJ): $(GEN)
$(SRV_OBJ): ALL_CFLAGS += -I$(BUILD)/gen $(if $(HAVE_PG),-DDC_HAVE_PG $(PG_CFLAGS)) \
    -DDC_DEFAULT_CONFIG='"$(SYSCONFDIR)/ducat/ducat.conf"'

$(DUCATD): $(SRV_OBJ) $(LIB_A)
	$(CC) $(SAN) $(LDFLAGS) -o $@ $(SRV_OBJ) $(LIB_A) $(SRV_LIBS) $(LDLIBS)

# Server unit tests (config, store contract): the server objects as a library.
$(SRV_LIB): $(filter-out %/main.o,$(SRV_OBJ))
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/test_%: tests/server/test_%.c tests/test.h $(SRV_LIB) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(if $(HAVE_PG),-DDC_HAVE_PG $(PG_CFLAGS)) -Itests -I$(BUILD)/gen $< -o $@ \
	    $(SRV_LIB) $(LIB_A) $(SRV_LIBS) $(LDLIBS)

# API tests: a real ducatd on loopback, driven through tests/api/harness.c
# (and API_EXTRA: the shared files a test names below).
$(BUILD)/tests/test_%: tests/api/test_%.c tests/api/harness.c tests/api/harness.h tests/test.h \
        $(BUILD)/gen/calendar_test.h $(WAL_LIB) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -Itests/api -I$(BUILD)/gen $< tests/api/harness.c $(API_EXTRA) -o $@ \
	    $(WAL_LIB) $(LIB_A) $(TEST_LIBS) $(LDLIBS)
# The multi-instance and failover tests share their client load.
$(BUILD)/tests/test_api_multi $(BUILD)/tests/test_api_failover: API_EXTRA := tests/api/load.c
$(BUILD)/tests/test_api_multi $(BUILD)/tests/test_api_failover: tests/api/load.c tests/api/load.h

# End-to-end tests: a real ducatd and real ducat processes (tests/e2e).
# tests/e2e/cli_harness.c holds their shared helpers (not a test: no test_ prefix).
$(BUILD)/tests/test_%: tests/e2e/test_%.c tests/e2e/cli_harness.c tests/e2e/cli_harness.h \
        tests/api/harness.c tests/api/harness.h tests/test.h $(BUILD)/gen/calendar_test.h \
        tests/fixture.h tools/world.h $(WAL_LIB) $(LIB_A) | $(DUCAT) $(DUCATD)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -Itests/api -Itools -I$(BUILD)/gen $< tests/e2e/cli_harness.c tests/api/harness.c -o $@ \
	    $(WAL_LIB) $(LIB_A) $(TEST_LIBS) $(LDLIBS)

# Built without $(SAN): preloaded into a sanitized ducatd they need no runtime of their own.
$(BUILD)/tests/libvfsfault.so: tests/fault/vfs_fault.c tests/fault/ctl.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -g -O2 -fPIC -shared -D_POSIX_C_SOURCE=200809L $< -o $@ \
	    $(shell pkg-config --libs sqlite3 2>/dev/null) -lpthread

$(BUILD)/tests/libpqfault.so: tests/fault/pq_fault.c tests/fault/ctl.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -g -O2 -fPIC -shared $(PG_CFLAGS) $< -o $@ $(PG_LIBS) -ldl -lpthread

$(LIB_A): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(CORE_OBJ)
	$(CC) -shared $(SAN) -Wl,-soname,libducat.so.0 -o $@ $^ $(LDLIBS)

$(BUILD)/ducat.pc $(BUILD)/ducat-wallet.pc: $(BUILD)/%.pc: %.pc.in Makefile
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

$(BUILD)/tests/%: tests/unit/%.c tests/test.h tests/fixture.h tests/wallet_fixture.h tools/world.h \
        $(WAL_LIB) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -Itools $< -o $@ $(WAL_LIB) $(LIB_A) $(TEST_LIBS) $(LDLIBS)

# The wallet library (offline engine, wallet file, coin selection, client)
# and the ducat CLI on top of it.
$(WAL_LIB): $(WAL_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# DEV_CLOCK=1 (the default) lets `ducat` read its business time from
# $DUCAT_CLOCK_FILE (tests, docs/CLI.md); `make deb` builds without it.
DEV_CLOCK ?= 1
$(CLI_OBJ): ALL_CFLAGS += $(CLI_CFLAGS) $(if $(filter 1,$(DEV_CLOCK)),-DDC_DEV_CLOCK)
$(DUCAT): $(CLI_OBJ) $(WAL_LIB) $(LIB_A)
	$(CC) $(SAN) $(LDFLAGS) -o $@ $(CLI_OBJ) $(WAL_LIB) $(LIB_A) $(TEST_LIBS) $(CLI_LIBS) $(LDLIBS)

$(BUILD)/tools/%: tools/%.c tools/world.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itools $< -o $@ $(LIB_A) $(LDLIBS)

# Corpus replay: each fuzz target linked with a plain driver (no libFuzzer).
$(BUILD)/fuzz/replay_%: fuzz/fuzz_%.c fuzz/replay.c tools/world.h $(WAL_LIB) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itools fuzz/replay.c $< -o $@ $(WAL_LIB) $(LIB_A) $(TEST_LIBS) $(LDLIBS)

-include $(CORE_OBJ:.o=.d) $(SRV_OBJ:.o=.d) $(WAL_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory run-tests

# tests/with-pg.sh starts a throwaway PostgreSQL cluster for the run (and
# always removes it). tests/pg/NAME.pg runs test NAME again on PostgreSQL:
# the store contract suite and API suites on both backends.
PG_RUNS := tests/pg/test_store.pg tests/pg/test_api_smoke.pg tests/pg/test_api_basic.pg \
           tests/pg/test_api_console.pg tests/pg/test_api_hostile.pg tests/pg/test_api_fault.pg \
           tests/pg/test_api_ops.pg tests/pg/test_api_cases.pg tests/pg/test_api_fraudsim.pg \
           tests/pg/test_api_reclaim.pg tests/pg/test_api_calendar.pg \
           tests/pg/test_api_pgtimeout.pg tests/pg/test_api_roles.pg \
           tests/pg/test_api_search.pg
# tests/with-pcscd.sh adds a private pcscd with the vsmartcard virtual
# reader (tests/e2e/test_nfc.c: tap to pay through PC/SC).
run-tests: all
	@BUILD=$(BUILD) SAN="$(SAN)" DUCATD=$(CURDIR)/$(DUCATD) tests/with-pcscd.sh tests/with-pg.sh tests/run.sh $(TEST_BIN) \
	    tests/layers.py tests/vectors.sh tests/vectors_independent.py tests/errors_doc.sh \
	    tests/openapi_routes.sh tests/pkgconfig.sh tests/deb.sh $(REPLAY_BIN) $(SRVT_BIN) $(API_BIN) $(PG_RUNS) tests/pg_failover.sh $(E2E_BIN) \
	    tests/future_dates.sh

# Failover to a synchronous standby (tests/pg_failover.sh: its own primary and
# standby, two ducatd, the standby killed and restarted, then the primary
# SIGKILLed mid-load and the standby promoted). Part of run-tests since the
# causes of its failures were found (docs/DEPLOY.md); alone with this target.
check-failover: all
	@BUILD=$(BUILD) DUCATD=$(CURDIR)/$(DUCATD) tests/run.sh tests/pg_failover.sh

check-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    run-tests

# The seed's whole story with real programs (scripts/demo.sh).
demo: deps
	@$(MAKE) --no-print-directory $(DUCATD) $(DUCAT)
	@BUILD=$(BUILD) scripts/demo.sh

RUN_DIR  ?= var
RUN_ADDR ?= 127.0.0.1:8080
run: deps
	@$(MAKE) --no-print-directory $(DUCATD) $(DUCAT) $(BUILD)/tools/ducat-selfcheck
	@$(BUILD)/tools/ducat-selfcheck > /dev/null || { echo "core self-check failed"; exit 1; }
	@if [ ! -f $(RUN_DIR)/ducat.conf ]; then $(DUCATD) init $(RUN_DIR) --auto-verify; fi
	@echo ""
	@echo "ducatd (development instance in ./$(RUN_DIR), SQLite) on http://$(RUN_ADDR) - try:"
	@echo "  curl -s http://$(RUN_ADDR)/v1/keys"
	@echo "  curl -s -H \"Authorization: Bearer \$$(cat $(RUN_DIR)/admin.token)\" http://$(RUN_ADDR)/v1/admin/audit"
	@echo "  $(DUCATD) -c $(RUN_DIR)/ducat.conf accounts list"
	@echo "  $(BUILD)/tools/ducat-selfcheck    (a coin's life, offline, in one screen)"
	@echo "  a wallet (docs/CLI.md), in another terminal:"
	@echo "    export DUCAT_WALLET=/tmp/alice.wallet DUCAT_PASSPHRASE=dev-only"
	@echo "    $(DUCAT) init --server http://$(RUN_ADDR) && $(DUCAT) register --name 'Alice Zhang' --national-id 110101199001011234 --phone +8613800000001"
	@echo "    $(DUCATD) -c $(RUN_DIR)/ducat.conf fund ACCOUNT 100.00 && $(DUCAT) withdraw 20.00 && $(DUCAT) coins"
	@echo "  the whole story with four wallets: make demo"
	@echo "Stop with Ctrl-C. API: docs/API.md; operating: docs/OPERATIONS.md"
	@echo ""
	$(DUCATD) -c $(RUN_DIR)/ducat.conf serve --listen $(RUN_ADDR)

bench-core: deps
	@$(MAKE) --no-print-directory BUILD=build-bench OPT="-O2 -DNDEBUG" build-bench/libducat.a
	@mkdir -p build-bench/bench
	$(CC) -std=c11 -O2 -Iinclude -Isrc -Itools $(PKG_CFLAGS) -D_POSIX_C_SOURCE=200809L bench/bench_core.c \
	    -o build-bench/bench/bench_core build-bench/libducat.a $(LDLIBS)
	build-bench/bench/bench_core

# ducatd on loopback (bench/bench_server.c); BENCH_DIR picks the build dir,
# BENCH_PHASES a subset of abcd.
bench-server: bench-server-build
	DUCATD=$(BENCH_DIR)/ducatd $(BENCH_DIR)/bench/bench_server

bench-server-build: deps
	@$(MAKE) --no-print-directory BUILD=$(BENCH_DIR) OPT="-O2 -DNDEBUG" $(BENCH_DIR)/ducatd \
	    $(BENCH_DIR)/libducat.a $(BENCH_DIR)/gen/calendar_test.h
	@mkdir -p $(BENCH_DIR)/bench
	$(CC) -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc -Itests -Itests/api \
	    -I$(BENCH_DIR)/gen $(PKG_CFLAGS) \
	    bench/bench_server.c tests/api/harness.c -o $(BENCH_DIR)/bench/bench_server \
	    $(BENCH_DIR)/libducat.a $(TEST_LIBS) $(LDLIBS)

# Phase (s) of bench_server on a throwaway PostgreSQL cluster: the same
# signed single-transfer load on 1, 2 and 3 ducatd instances of one
# database; transfers/s, ducatd and PostgreSQL CPU and WAL bytes per
# transfer (the capacity model in docs/DEPLOY.md is built from them).
bench-scale: bench-server-build
	DUCAT_TEST_STORE=postgresql BENCH_PHASES=$${BENCH_PHASES:-s} DUCATD=$(BENCH_DIR)/ducatd \
	    tests/with-pg.sh $(BENCH_DIR)/bench/bench_server

# The store on SQLite and on a throwaway PostgreSQL cluster (tests/with-pg.sh)
# in one run: raw durable commits/s of each engine, transfers/s one per
# commit and 100 per commit, deposits/s, with ratios to the raw rate.
bench-store: deps
	@$(MAKE) --no-print-directory BUILD=$(BENCH_DIR) OPT="-O2 -DNDEBUG" $(BENCH_DIR)/libducatd.a \
	    $(BENCH_DIR)/libducat.a
	@mkdir -p $(BENCH_DIR)/bench
	$(CC) -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc $(PKG_CFLAGS) $(PG_CFLAGS) \
	    bench/bench_store.c -o $(BENCH_DIR)/bench/bench_store $(BENCH_DIR)/libducatd.a \
	    $(BENCH_DIR)/libducat.a $(SRV_LIBS) $(LDLIBS)
	tests/with-pg.sh $(BENCH_DIR)/bench/bench_store

# Offline payment: payee accept vs raw Ed25519 on the same signatures (the
# link wraps libsodium's two Ed25519 calls to record them), bytes on the wire.
BENCH_DIR ?= build-bench
bench-offline: deps
	@$(MAKE) --no-print-directory BUILD=$(BENCH_DIR) OPT="-O2 -DNDEBUG" $(BENCH_DIR)/libducat.a \
	    $(BENCH_DIR)/libducat-wallet.a
	@mkdir -p $(BENCH_DIR)/bench
	$(CC) -std=c11 -O2 -Iinclude -Isrc -Itests -Itools $(PKG_CFLAGS) -D_POSIX_C_SOURCE=200809L \
	    bench/bench_offline.c -o $(BENCH_DIR)/bench/bench_offline $(BENCH_DIR)/libducat-wallet.a \
	    $(BENCH_DIR)/libducat.a -Wl,--wrap=crypto_sign_ed25519_verify_detached \
	    -Wl,--wrap=crypto_sign_ed25519_detached $(LDLIBS)
	$(BENCH_DIR)/bench/bench_offline

# Man pages from the programs' own help (scripts/man.sh): build/man/.
man: $(DUCATD) $(DUCAT)
	scripts/man.sh $(BUILD) $(BUILD)/man

# The Debian packages, built with Debian's hardening flags in build-deb and
# checked by lintian (errors fail the build): build-deb/ducat_VERSION-1_ARCH.deb
# and build-deb/ducat-dev_VERSION-1_ARCH.deb (headers, static libraries, .pc).
DEB_FLAGS   = DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get
DEB_CFLAGS  = $(shell $(DEB_FLAGS) CFLAGS) $(shell $(DEB_FLAGS) CPPFLAGS)
DEB_LDFLAGS = $(shell $(DEB_FLAGS) LDFLAGS)
deb: deps
	@$(MAKE) --no-print-directory BUILD=build-deb CFLAGS="$(DEB_CFLAGS)" LDFLAGS="$(DEB_LDFLAGS)" \
	    SYSCONFDIR=/etc DEV_CLOCK=0 build-deb/ducatd build-deb/ducat build-deb/libducat.a \
	    build-deb/libducat-wallet.a
	scripts/deb.sh build-deb
	lintian --fail-on error --suppress-tags-from-file dist/debian/lintian-suppress \
	    build-deb/ducat_$(VERSION)-1_$$(dpkg --print-architecture).deb \
	    build-deb/ducat-dev_$(VERSION)-1_$$(dpkg --print-architecture).deb

FUZZ_SECONDS ?= 60
fuzz:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory CC=clang BUILD=build-fuzz OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" build-fuzz/libducat.a \
	    build-fuzz/libducat-wallet.a
	@mkdir -p build-fuzz/fuzz
	@for t in $(FUZZ_NAMES); do \
	    clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Itools $(PKG_CFLAGS) \
	        fuzz/fuzz_$$t.c -o build-fuzz/fuzz/fuzz_$$t build-fuzz/libducat-wallet.a build-fuzz/libducat.a \
	        $(TEST_LIBS) $(LDLIBS) || exit 1; \
	    mkdir -p build-fuzz/corpus/$$t; \
	    build-fuzz/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	        $$( [ -f fuzz/$$t.dict ] && echo -dict=fuzz/$$t.dict ) build-fuzz/corpus/$$t fuzz/corpus/$$t || exit 1; \
	done

FMT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
fmt:
	clang-format -i $(FMT_FILES)

# clang-format on every tracked C file, and cppcheck.
lint:
	@scripts/deps.sh all
	@scripts/lint.sh

# The .pc files are written for this PREFIX (the ones in $(BUILD) name the build's).
# Also the man pages (generated from --help: `make man`) and bash completion.
install: $(LIB_A) $(LIB_SO) $(WAL_LIB) $(DUCATD) $(DUCAT) man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/ducat \
	    $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
	    $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 644 $(BUILD)/man/ducat.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(BUILD)/man/ducat.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 644 $(BUILD)/man/ducatd.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 dist/ducat.bash-completion $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ducat
	ln -sf ducat $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ducatd
	install -m 755 $(DUCATD) $(DUCAT) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIB_A) $(WAL_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libducat.so.0
	ln -sf libducat.so.0 $(DESTDIR)$(PREFIX)/lib/libducat.so
	install -m 644 include/ducat/*.h include/ducat/*.def $(DESTDIR)$(PREFIX)/include/ducat/
	for p in ducat ducat-wallet; do \
	    sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $$p.pc.in \
	        > $(DESTDIR)$(PREFIX)/lib/pkgconfig/$$p.pc || exit 1; \
	done

clean:
	rm -rf build build-asan build-bench build-fuzz build-deb
