# make install / make uninstall (included by the Makefile).
#
#   make install   PREFIX=/usr/local DESTDIR=/tmp/stage   (defaults: PREFIX=/usr/local, DESTDIR empty)
#   make uninstall PREFIX=/usr/local DESTDIR=/tmp/stage   removes exactly the files install put
#
# Layout (PREFIX=/usr):
#   /usr/lib/promfcgi/hello.fcgi, metrics.fcgi   FastCGI programs (LIBEXECDIR, see below)
#   /usr/bin/...                                 command-line tools listed in INSTALL_BIN (if any)
#   /usr/include/promfcgi.h                      the C API
#   /usr/lib/libpromfcgi.a                       static library (LIBDIR)
#   /usr/lib/pkgconfig/promfcgi.pc               pkg-config file
#   /usr/share/promfcgi/...                      deploy files: web server configs, Prometheus
#                                                rules + dashboard, spawn-fcgi example
#   /usr/share/doc/promfcgi/deploy.md            deployment notes
#   /usr/lib/systemd/system/promfcgi-*.{socket,service}, /usr/lib/sysusers.d/promfcgi.conf
#                                                (only when PREFIX=/usr; for any other PREFIX the
#                                                units go to share/promfcgi/systemd/ instead, where
#                                                systemd does not look, to be copied by hand)
#   /usr/share/man/man1/*.1                      man pages from man/*.1, if there are any
#
# Why lib/promfcgi and not bin/ or sbin/: hello.fcgi and metrics.fcgi are not commands for a
# user or an administrator to type; they are started by a web server, spawn-fcgi or systemd
# with a listening socket on fd 0. The FHS puts such internal programs in /usr/lib/<package>
# (Debian's libexecdir); sbin is for administration commands. The systemd units, the nginx
# site and the spawn-fcgi script name that path. A CLI tool for shell scripts belongs in bin/:
# add it with `INSTALL_BIN += path/to/tool` in the Makefile before the mk/*.mk include.

PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
LIBEXECDIR  ?= $(PREFIX)/lib/promfcgi
INCLUDEDIR  ?= $(PREFIX)/include
DATADIR     ?= $(PREFIX)/share/promfcgi
DOCDIR      ?= $(PREFIX)/share/doc/promfcgi
MANDIR      ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
VERSION     ?= $(shell sed -n 's/^#define PROMFCGI_VERSION "\(.*\)"/\1/p' store/promfcgi.h)
INSTALL     ?= install
INSTALL_BIN ?=

ifeq ($(PREFIX),/usr)
SYSTEMDUNITDIR ?= /usr/lib/systemd/system
SYSUSERSDIR    ?= /usr/lib/sysusers.d
else
SYSTEMDUNITDIR ?= $(DATADIR)/systemd
SYSUSERSDIR    ?= $(DATADIR)/systemd
endif

# Sources of what gets installed. The systemd units, nginx-site.conf and spawn-fcgi.sh name the
# FastCGI programs as /usr/lib/promfcgi/...; install rewrites that to LIBEXECDIR.
INST_UNITS    = $(wildcard deploy/systemd/*.socket deploy/systemd/*.service)
INST_SYSUSERS = deploy/systemd/promfcgi.conf
INST_DEPLOY   = deploy/lighttpd.conf.in deploy/nginx.conf.in deploy/render \
                deploy/apache.conf.in deploy/Caddyfile.in deploy/lighttpd-cgi.conf.in deploy/apache-cgi.conf.in \
                $(wildcard deploy/nginx-site.conf deploy/lighttpd-site.conf deploy/spawn-fcgi.sh)
INST_PROM     = $(wildcard deploy/prometheus/prometheus.yml deploy/prometheus/rules/*.yml \
                deploy/prometheus/targets/*.json deploy/prometheus/targets/*.example deploy/prometheus/grafana/*.json)
INST_DOCS     = $(wildcard docs/deploy.md)
INST_MAN1     = $(wildcard man/*.1)

# Every file install creates, relative to DESTDIR: uninstall removes this list.
INSTALLED = $(LIBEXECDIR)/hello.fcgi $(LIBEXECDIR)/metrics.fcgi \
            $(addprefix $(BINDIR)/,$(notdir $(INSTALL_BIN))) \
            $(INCLUDEDIR)/promfcgi.h $(LIBDIR)/libpromfcgi.a $(PKGCONFIGDIR)/promfcgi.pc \
            $(addprefix $(SYSTEMDUNITDIR)/,$(notdir $(INST_UNITS))) \
            $(SYSUSERSDIR)/promfcgi.conf \
            $(addprefix $(DATADIR)/,$(notdir $(INST_DEPLOY))) \
            $(addprefix $(DOCDIR)/,$(notdir $(INST_DOCS))) \
            $(addprefix $(DATADIR)/,$(patsubst deploy/%,%,$(INST_PROM))) \
            $(addprefix $(MANDIR)/man1/,$(notdir $(INST_MAN1)))
# Directories that belong to promfcgi alone; uninstall removes them once empty (deepest first).
OWN_DIRS = $(DATADIR)/prometheus/rules $(DATADIR)/prometheus/targets $(DATADIR)/prometheus/grafana \
           $(DATADIR)/prometheus $(DATADIR)/systemd $(DATADIR) $(LIBEXECDIR) $(DOCDIR)

# Rewrites the documented default program path to the one this install uses.
fix_paths = sed -e 's|/usr/lib/promfcgi/|$(LIBEXECDIR)/|g'

.PHONY: install uninstall
install: all $(INSTALL_BIN)
	$(INSTALL) -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DATADIR) \
	    $(DESTDIR)$(DATADIR)/prometheus/rules $(DESTDIR)$(DATADIR)/prometheus/grafana \
	    $(DESTDIR)$(DATADIR)/prometheus/targets
	$(INSTALL) -m 0755 app/hello.fcgi metrics/metrics.fcgi $(DESTDIR)$(LIBEXECDIR)/
ifneq ($(strip $(INSTALL_BIN)),)
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/
endif
	$(INSTALL) -m 0644 store/promfcgi.h $(DESTDIR)$(INCLUDEDIR)/promfcgi.h
	$(INSTALL) -m 0644 store/libpromfcgi.a $(DESTDIR)$(LIBDIR)/libpromfcgi.a
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	    'Name: promfcgi' \
	    'Description: Prometheus metrics for multi-process FastCGI apps (SQLite WAL store)' \
	    'Version: $(VERSION)' \
	    'Cflags: -I$${includedir}' \
	    'Libs: -L$${libdir} -lpromfcgi -lsqlite3 -lfcgi -lm' \
	    >$(DESTDIR)$(PKGCONFIGDIR)/promfcgi.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/promfcgi.pc
	for f in $(INST_UNITS); do \
	    $(fix_paths) $$f >$(DESTDIR)$(SYSTEMDUNITDIR)/$${f##*/} && \
	    chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$${f##*/} || exit 1; \
	done
	$(INSTALL) -m 0644 $(INST_SYSUSERS) $(DESTDIR)$(SYSUSERSDIR)/promfcgi.conf
	for f in $(INST_DEPLOY); do \
	    mode=0644; [ -x $$f ] && mode=0755; \
	    $(fix_paths) $$f >$(DESTDIR)$(DATADIR)/$${f##*/} && \
	    chmod $$mode $(DESTDIR)$(DATADIR)/$${f##*/} || exit 1; \
	done
ifneq ($(strip $(INST_DOCS)),)
	$(INSTALL) -d $(DESTDIR)$(DOCDIR)
	$(INSTALL) -m 0644 $(INST_DOCS) $(DESTDIR)$(DOCDIR)/
endif
	for f in $(INST_PROM); do \
	    $(INSTALL) -m 0644 $$f $(DESTDIR)$(DATADIR)/$${f#deploy/} || exit 1; \
	done
ifneq ($(strip $(INST_MAN1)),)
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 0644 $(INST_MAN1) $(DESTDIR)$(MANDIR)/man1/
endif

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	for d in $(addprefix $(DESTDIR),$(OWN_DIRS)); do \
	    [ ! -d $$d ] || rmdir --ignore-fail-on-non-empty $$d; \
	done
