# SPDX-License-Identifier: MIT
# promfcgi — build, run and test.  `make run` and `make test` install what
# is missing first (scripts/deps), so a fresh Debian 12 machine needs nothing.

CC      ?= cc
CFLAGS  ?= -O2 -g
# -Iinclude: the public headers, as an app sees them installed; -I.: the library's own
# headers by folder ("store/stage.h"), so an include line names the layer it reaches into.
WARN     = -std=c11 -D_GNU_SOURCE -Iinclude -I. -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
# --as-needed: a program depends only on the libraries it calls (a CGI
# process pays for every library it loads, at every request).
LDFLAGS ?= -Wl,--as-needed
LDLIBS   = -lfcgi -lz -lm
SAN      = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

PORT       ?= 8080
SERVER     ?= lighttpd
MODE       ?= fastcgi
WORKERS    ?= 2
RUNDIR     ?= $(CURDIR)/run
PROMFCGI_DB ?= $(RUNDIR)/promfcgi.db
# The program serving every path but /metrics (make run APP=path/to/app.fcgi); empty: app/hello.fcgi.
APP        ?=

# The library, in layers, as the data flows (a file uses only what is listed before it; see
# tests/layers): store/ records and keeps (the data model, names, staging files, the CGI
# journal, SQLite, the recording API); http/ measures requests (route templates, the request
# layer, the accept loop, pf_serve); metrics/ aggregates and renders (the scrape, the
# exposition formats, the /metrics responder).  The programs link the library and nothing else.
STORE   = store/notice.c store/native.c store/model.c store/gauge.c store/names.c store/log.c store/buf.c \
          store/blocks.c store/hash.c store/path.c store/proc.c store/listener.c store/beacon.c store/stage.c \
          store/stage_write.c store/stage_valid.c store/stage_snap.c store/stage_old.c \
          store/stage_read.c store/pool.c store/journal.c store/journal_pack.c store/journal_unpack.c \
          store/journal_read.c store/sqlite.c store/db_cells.c store/db.c store/db_family.c store/db_series.c store/db_gauge.c \
          store/db_checkpoint.c store/db_fold.c store/db_load.c store/db_record.c store/fold.c store/registry_record.c \
          store/registry_define.c store/registry.c
HTTP    = http/route.c http/queue.c http/http.c http/accept.c http/serve.c
METRICS = metrics/view.c metrics/layout.c metrics/workers.c metrics/clock.c metrics/batch.c \
          metrics/merge.c metrics/collect.c metrics/scrape.c metrics/negotiate.c metrics/decimal.c metrics/render.c \
          metrics/protobuf.c metrics/own.c metrics/poolstat.c metrics/expose.c metrics/tool.c
LIB     = $(STORE) $(HTTP) $(METRICS)
# tests/integration/apps/: programs only the integration tests run, built like the others (and
# in the ASan flavour) so that each run tests its own build.
PROGRAMS = app/hello.fcgi app/orders.fcgi app/api.fcgi metrics/metrics.fcgi cli/promfcgi \
           tests/integration/apps/many_series.fcgi
UNIT    = tests/unit/main.c tests/unit/test_names.c tests/unit/test_render.c \
          tests/unit/test_store.c tests/unit/test_route.c tests/unit/test_faults.c \
          tests/unit/test_negotiate.c tests/unit/test_robust.c tests/unit/test_http.c \
          tests/unit/test_journal.c tests/unit/test_native.c tests/unit/test_protobuf.c \
          tests/unit/test_scrape.c \
          tests/unit/test_exemplar.c tests/unit/test_native_rec.c tests/unit/test_accept.c \
          tests/unit/test_mistakes.c tests/unit/test_beacon.c tests/unit/test_growth.c \
          tests/unit/test_pool.c tests/unit/test_fold.c tests/unit/test_kinds.c tests/unit/test_modes.c \
          tests/unit/test_gauge_fold.c \
          tests/unit/util.c tests/unit/legacy.c tests/unit/db_read.c
HEADERS = $(wildcard include/*.h store/*.h http/*.h metrics/*.h tests/unit/*.h)

# The release, from the header; and the ABI version of the shared library (the soname
# libpromfcgi.so.$(SOVERSION), the package libpromfcgi$(SOVERSION)): docs/abi.md says what
# raises it.  The file is named after the release (libpromfcgi.so.0.4.0), beside the soname
# link (what programs load) and the link-time name libpromfcgi.so (what -lpromfcgi finds).
VERSION  := $(shell sed -n 's/^#define PROMFCGI_VERSION "\(.*\)"/\1/p' include/promfcgi.h)
SOVERSION = 1
SONAME    = libpromfcgi.so.$(SOVERSION)
LIBDIR_BUILD = build/lib
SHLIB     = $(LIBDIR_BUILD)/libpromfcgi.so.$(VERSION)
SHLIB_LINKS = $(LIBDIR_BUILD)/$(SONAME) $(LIBDIR_BUILD)/libpromfcgi.so
STATICLIB = $(LIBDIR_BUILD)/libpromfcgi.a

# Objects of one flavour live under build/<flavour>/; release binaries are
# then copied next to their sources (app/, metrics/, cli/), where the deploy
# files expect them.
objs = $(patsubst %.c,build/$(1)/%.o,$(2))
# A program's source: app/hello.fcgi <- app/hello.c, cli/promfcgi <- cli/promfcgi.c
src_of = $(patsubst %.fcgi,%,$(1)).c

.PHONY: all asan deps run test unit integration clean shared
all: $(PROGRAMS) $(STATICLIB) $(SHLIB_LINKS)

build/release/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

build/asan/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O1 -g $(SAN) -c $< -o $@

$(STATICLIB): $(call objs,release,$(LIB))
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^
build/asan/libpromfcgi.a: $(call objs,asan,$(LIB))
	rm -f $@ && $(AR) rcs $@ $^

# The shared library, beside the static one and from the same $(LIB): position-independent
# objects (build/pic/), compiled with -fvisibility=hidden, so that only what promfcgi.h and
# promfcgi_http.h mark PF_API is exported (tests/abi checks it both ways).  SOVERSION is the
# ABI version in the soname and in the package name libpromfcgi$(SOVERSION) (set above).
# It records its own dependencies (libfcgi, libz, libm: --as-needed keeps those it calls; SQLite
# is loaded on first use, store/sqlite.c), so a program that calls only pf_* links with
# -lpromfcgi alone.
build/pic/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@
$(SHLIB): $(call objs,pic,$(LIB))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -Wl,--as-needed \
	    -o $@ $^ $(LDLIBS)
$(SHLIB_LINKS): $(SHLIB)
	ln -sfn $(notdir $<) $@

# The FastCGI programs linked against the shared library instead (what the packages ship:
# a fix in libpromfcgi$(SOVERSION) reaches them without a rebuild).  --as-needed: each records
# only the libraries it calls itself (metrics.fcgi calls no FCGX_*: no libfcgi).  The CLI
# uses the library's internals (store, staging files), which the .so does not export, so it
# stays linked with libpromfcgi.a.
SHARED_PROGRAMS = $(addprefix build/shared/,$(filter %.fcgi,$(PROGRAMS)))
shared: $(SHLIB_LINKS) $(SHARED_PROGRAMS)

# The programs' objects are not intermediate: make would remove them after the build, printing
# "rm ..." after the test summary (whose last line must be "N passed, M failed").  (An empty
# .SECONDARY would keep everything, but mk/fuzz.mk's list makes it a list.)
PROGRAM_SRCS = $(foreach p,$(PROGRAMS),$(call src_of,$(p)))
.SECONDARY: $(call objs,release,$(PROGRAM_SRCS)) $(call objs,asan,$(PROGRAM_SRCS)) \
            $(call objs,pic,$(PROGRAM_SRCS))
.SECONDEXPANSION:
# The programs take libfcgi into themselves, and bind frexp and ldexp (which libfcgi and
# store/native.c call) in libc, which has them too, so that a program that needs nothing else of
# libm does not load it (libz is loaded where gzip is used; SQLite on first use): a CGI process pays
# the dynamic loader for every library it maps and every symbol it binds, at every request -- one
# CGI request of the hello app took 386k instructions with libfcgi.so and libm.so, 262k without
# (callgrind, tests/bench/cgi_cost).  libm is not taken in (its static objects need ld.so's
# private symbols).  The programs built on the shared library (build/shared/, what the packages
# ship) are left as they are.
PROGRAM_LDLIBS = -Wl,-Bstatic -lfcgi -Wl,-Bdynamic -lz -lc -lm
build/release/bin/%: $$(call objs,release,$$(call src_of,$$*)) $(STATICLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PROGRAM_LDLIBS)
build/shared/%: $$(call objs,release,$$(call src_of,$$*)) $(SHLIB_LINKS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -Wl,--as-needed -o $@ $< -L$(LIBDIR_BUILD) -lpromfcgi $(LDLIBS)
build/asan/bin/%: $$(call objs,asan,$$(call src_of,$$*)) build/asan/libpromfcgi.a
	@mkdir -p $(@D)
	$(CC) $(SAN) $(LDFLAGS) -o $@ $^ $(LDLIBS)
build/release/unit: $(call objs,release,$(UNIT)) $(STATICLIB)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
build/asan/unit: $(call objs,asan,$(UNIT)) build/asan/libpromfcgi.a
	$(CC) $(SAN) -o $@ $^ $(LDLIBS)

# copy and rename, so running workers keep their binary ("text file busy")
$(PROGRAMS): %: build/release/bin/%
	cp $< $@.tmp && mv -f $@.tmp $@

# The sanitizer build keeps the programs' paths under build/asan/, so that
# PROMFCGI_BIN_DIR=build/asan runs the integration tests against it.
ASAN_PROGRAMS = $(addprefix build/asan/,$(PROGRAMS))
$(ASAN_PROGRAMS): build/asan/%: build/asan/bin/%
	cp $< $@.tmp && mv -f $@.tmp $@
asan: $(ASAN_PROGRAMS) build/asan/unit

deps:
	@scripts/deps

# SERVER=lighttpd|nginx|apache|caddy MODE=fastcgi|cgi (cgi: lighttpd, apache) APP=program: the
# arguments are checked first, so a wrong one is refused before anything is installed or built.
# Ctrl-C (or SIGTERM to the stack's pid, which it prints) stops everything it started and ends
# `make run` with status 0; the store in RUNDIR is handed to whoever serves the next run
# (scripts/stack).
STACK_APP = $(if $(APP),--app '$(abspath $(APP))')
run:
	@scripts/stack --check --mode '$(MODE)' $(STACK_APP) '$(SERVER)' '$(PORT)' '$(WORKERS)' '$(PROMFCGI_DB)' '$(RUNDIR)'
	@$(MAKE) --no-print-directory deps all
	scripts/stack --mode '$(MODE)' $(STACK_APP) '$(SERVER)' '$(PORT)' '$(WORKERS)' '$(PROMFCGI_DB)' '$(RUNDIR)'

unit: all build/release/unit asan
	tests/run unit

integration: all asan
	tests/run integration

test: deps all build/release/unit asan
	tests/run all

clean:
	rm -rf build $(PROGRAMS)

# The command-line tool goes to $(PREFIX)/bin (see mk/install.mk).
INSTALL_BIN = cli/promfcgi

# Further targets (install, bench, fuzz, ...), one file per concern.
include $(wildcard mk/*.mk)
