# promfcgi — build, run and test.  `make run` and `make test` install what
# is missing first (scripts/deps), so a fresh Debian 12 machine needs nothing.

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
LDLIBS   = -lfcgi -lsqlite3 -lz -lm
SAN      = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

PORT       ?= 8080
SERVER     ?= lighttpd
MODE       ?= fastcgi
WORKERS    ?= 2
PROMFCGI_DB ?= $(CURDIR)/run/promfcgi.db

STORE   = store/db.c store/log.c store/names.c store/proc.c store/registry.c \
          store/scrape.c store/stage.c
RENDER  = metrics/buf.c metrics/render.c metrics/negotiate.c metrics/own.c
HELLO   = app/hello.c app/route.c app/accept.c
ORDERS  = app/orders.c app/accept.c
METRICS = metrics/metrics.c app/accept.c
CLI     = cli/promfcgi.c
UNIT    = tests/unit/main.c tests/unit/test_names.c tests/unit/test_render.c \
          tests/unit/test_store.c tests/unit/test_route.c tests/unit/test_faults.c \
          tests/unit/test_negotiate.c tests/unit/test_robust.c tests/unit/util.c
HEADERS = $(wildcard store/*.h metrics/*.h app/*.h tests/unit/*.h)

# Objects of one flavour live under build/<flavour>/; release binaries are
# then copied to app/ and metrics/, where the deploy files expect them.
objs = $(patsubst %.c,build/$(1)/%.o,$(2))

.PHONY: all asan deps run test unit integration clean
all: app/hello.fcgi metrics/metrics.fcgi app/orders.fcgi cli/promfcgi store/libpromfcgi.a

build/release/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -c $< -o $@

build/asan/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O1 -g $(SAN) -c $< -o $@

store/libpromfcgi.a: $(call objs,release,$(STORE))
	$(AR) rcs $@ $^

build/release/hello.fcgi: $(call objs,release,$(HELLO) $(STORE))
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
build/release/metrics.fcgi: $(call objs,release,$(METRICS) $(RENDER) $(STORE))
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
build/release/orders.fcgi: $(call objs,release,$(ORDERS) $(STORE))
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
build/release/promfcgi: $(call objs,release,$(CLI) $(RENDER) $(STORE))
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)
build/release/unit: $(call objs,release,$(UNIT) $(RENDER) $(STORE) app/route.c)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/asan/app/hello.fcgi: $(call objs,asan,$(HELLO) $(STORE))
	$(CC) $(SAN) -o $@ $^ $(LDLIBS)
build/asan/metrics/metrics.fcgi: $(call objs,asan,$(METRICS) $(RENDER) $(STORE))
	$(CC) $(SAN) -o $@ $^ $(LDLIBS)
build/asan/unit: $(call objs,asan,$(UNIT) $(RENDER) $(STORE) app/route.c)
	$(CC) $(SAN) -o $@ $^ $(LDLIBS)
build/asan/app/orders.fcgi: $(call objs,asan,$(ORDERS) $(STORE))
	$(CC) $(SAN) -o $@ $^ $(LDLIBS)
build/asan/cli/promfcgi: $(call objs,asan,$(CLI) $(RENDER) $(STORE))
	$(CC) $(SAN) -o $@ $^ $(LDLIBS)

# copy and rename, so running workers keep their binary ("text file busy")
app/hello.fcgi: build/release/hello.fcgi
	cp $< $@.tmp && mv -f $@.tmp $@
metrics/metrics.fcgi: build/release/metrics.fcgi
	cp $< $@.tmp && mv -f $@.tmp $@
app/orders.fcgi: build/release/orders.fcgi
	cp $< $@.tmp && mv -f $@.tmp $@
cli/promfcgi: build/release/promfcgi
	cp $< $@.tmp && mv -f $@.tmp $@

asan: build/asan/app/hello.fcgi build/asan/metrics/metrics.fcgi build/asan/unit \
      build/asan/app/orders.fcgi build/asan/cli/promfcgi

deps:
	@scripts/deps

# SERVER=lighttpd|nginx|apache|caddy MODE=fastcgi|cgi (cgi: lighttpd, apache): the arguments are
# checked first, so a wrong one is refused before anything is installed or built.
run:
	@scripts/stack --check --mode '$(MODE)' '$(SERVER)' '$(PORT)' '$(WORKERS)' '$(PROMFCGI_DB)' '$(CURDIR)/run'
	@$(MAKE) --no-print-directory deps all
	@mkdir -p $(dir $(PROMFCGI_DB))
	scripts/stack --mode '$(MODE)' '$(SERVER)' '$(PORT)' '$(WORKERS)' '$(PROMFCGI_DB)' '$(CURDIR)/run'

unit: all build/release/unit asan
	tests/run unit

integration: all asan
	tests/run integration

test: deps all build/release/unit asan
	tests/run all

clean:
	rm -rf build app/hello.fcgi app/orders.fcgi metrics/metrics.fcgi cli/promfcgi \
	       store/libpromfcgi.a

# The command-line tool goes to $(PREFIX)/bin (see mk/install.mk).
INSTALL_BIN = cli/promfcgi

# Further targets (install, bench, fuzz, ...), one file per concern.
include $(wildcard mk/*.mk)
