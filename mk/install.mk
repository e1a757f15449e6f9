# SPDX-License-Identifier: MIT
# make install / make uninstall (included by the Makefile).
#
#   make install   PREFIX=/usr/local DESTDIR=/tmp/stage   (defaults: PREFIX=/usr/local, DESTDIR empty)
#   make uninstall PREFIX=/usr/local DESTDIR=/tmp/stage   removes exactly the files install put
#
# Layout (PREFIX=/usr):
#   /usr/lib/promfcgi/hello.fcgi, api.fcgi, metrics.fcgi   FastCGI programs (LIBEXECDIR, see below)
#   /usr/bin/...                                 command-line tools listed in INSTALL_BIN (if any)
#   /usr/include/promfcgi.h, promfcgi_http.h     the C API (recording; the HTTP layer)
#   /usr/lib/libpromfcgi.a                       static library (LIBDIR)
#   /usr/lib/libpromfcgi.so.0.4.0, .so.1, .so    shared library, its soname link, its link-time name
#   /usr/lib/pkgconfig/promfcgi.pc               pkg-config file
#   /usr/share/promfcgi/...                      deploy files: web server configs, Prometheus
#                                                rules + dashboard, spawn-fcgi example
#   /usr/share/doc/promfcgi/deploy.md            deployment notes
#   /usr/lib/systemd/system/promfcgi-*.{socket,service}, /usr/lib/sysusers.d/promfcgi.conf
#                                                (only when PREFIX=/usr; for any other PREFIX the
#                                                units go to share/promfcgi/systemd/ instead, where
#                                                systemd does not look, to be copied by hand)
#   /usr/share/man/man1/*.1, man3/*.3            man pages from man/*.1 (commands), man/*.3 (C API)
#   /var/lib/promfcgi/ (0750, owner promfcgi)    the store's default directory (STATEDIR, below)
#
# Why lib/promfcgi and not bin/ or sbin/: hello.fcgi and metrics.fcgi are not commands for a
# user or an administrator to type; they are started by a web server, spawn-fcgi or systemd
# with a listening socket on fd 0. The FHS puts such internal programs in /usr/lib/<package>
# (Debian's libexecdir); sbin is for administration commands. The systemd units, the nginx
# site and the spawn-fcgi script name that path. A CLI tool for shell scripts belongs in bin/:
# add it with `INSTALL_BIN += path/to/tool` in the Makefile before the mk/*.mk include.
#
# PROGRAMS_LINK=static (default) installs the FastCGI programs linked with libpromfcgi.a: they
# run from any PREFIX or DESTDIR. PROGRAMS_LINK=shared installs them linked with
# libpromfcgi.so.$(SOVERSION) from LIBDIR instead (the Debian packages: a fix in the library
# reaches them); the dynamic linker must then find LIBDIR. The CLI is always linked statically:
# it uses the library's internals, which the shared library does not export.
#
# STATEDIR: the directory of the default store, PROMFCGI_DEFAULT_DB (/var/lib/promfcgi/promfcgi.db,
# compiled into the library, so the same for every PREFIX). A worker started without PROMFCGI_DB
# records there, and cannot when the directory is missing. Installed into the live system as root,
# it is made 0750 and given to STORE_USER, the account the units and spawn-fcgi.sh run the
# programs as (promfcgi: created first, if missing, from the sysusers.d file, as the package
# does). An existing directory is left as it is; uninstall removes it only if empty (the store is
# data, not a file install put). STATEDIR= (empty) skips it.

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
INSTALL     ?= install
INSTALL_BIN ?=
PROGRAMS_LINK ?= static
STATEDIR    ?= /var/lib/promfcgi
STORE_USER  ?= promfcgi
# The FastCGI programs installed to LIBEXECDIR, and the files they are installed from.
INSTALL_FCGI = app/hello.fcgi app/api.fcgi metrics/metrics.fcgi
INSTALL_FCGI_FROM = $(if $(filter shared,$(PROGRAMS_LINK)),$(addprefix build/shared/,$(INSTALL_FCGI)),$(INSTALL_FCGI))

ifeq ($(PREFIX),/usr)
SYSTEMDUNITDIR ?= /usr/lib/systemd/system
SYSUSERSDIR    ?= /usr/lib/sysusers.d
else
SYSTEMDUNITDIR ?= $(DATADIR)/systemd
SYSUSERSDIR    ?= $(DATADIR)/systemd
endif

# Sources of what gets installed. The systemd units, nginx-site.conf and spawn-fcgi.sh name the
# FastCGI programs as /usr/lib/promfcgi/... (and the docs, /usr/share/...); install rewrites
# those to LIBEXECDIR, DATADIR and DOCDIR (fix_paths).
INST_UNITS    = $(wildcard deploy/systemd/*.socket deploy/systemd/*.service)
INST_SYSUSERS = deploy/systemd/promfcgi.conf
INST_DEPLOY   = deploy/lighttpd.conf.in deploy/nginx.conf.in deploy/render \
                deploy/apache.conf.in deploy/Caddyfile.in deploy/lighttpd-cgi.conf.in deploy/apache-cgi.conf.in \
                $(wildcard deploy/nginx-site.conf deploy/lighttpd-site.conf deploy/spawn-fcgi.sh)
INST_PROM     = $(wildcard deploy/prometheus/prometheus.yml deploy/prometheus/rules/*.yml \
                deploy/prometheus/targets/*.json deploy/prometheus/targets/*.example deploy/prometheus/grafana/*.json)
INST_DOCS     = $(wildcard docs/deploy.md)
INST_MAN1     = $(wildcard man/*.1)
INST_MAN3     = $(wildcard man/*.3)

# Every file install creates, relative to DESTDIR: uninstall removes this list.
INSTALLED = $(addprefix $(LIBEXECDIR)/,$(notdir $(INSTALL_FCGI))) \
            $(addprefix $(BINDIR)/,$(notdir $(INSTALL_BIN))) \
            $(INCLUDEDIR)/promfcgi.h $(INCLUDEDIR)/promfcgi_http.h $(LIBDIR)/libpromfcgi.a \
            $(addprefix $(LIBDIR)/,$(notdir $(SHLIB) $(SHLIB_LINKS))) $(PKGCONFIGDIR)/promfcgi.pc \
            $(addprefix $(SYSTEMDUNITDIR)/,$(notdir $(INST_UNITS))) \
            $(SYSUSERSDIR)/promfcgi.conf \
            $(addprefix $(DATADIR)/,$(notdir $(INST_DEPLOY))) \
            $(addprefix $(DOCDIR)/,$(notdir $(INST_DOCS))) \
            $(addprefix $(DATADIR)/,$(patsubst deploy/%,%,$(INST_PROM))) \
            $(addprefix $(MANDIR)/man1/,$(notdir $(INST_MAN1))) \
            $(addprefix $(MANDIR)/man3/,$(notdir $(INST_MAN3)))
# Directories that belong to promfcgi alone; uninstall removes them once empty (deepest first).
OWN_DIRS = $(DATADIR)/prometheus/rules $(DATADIR)/prometheus/targets $(DATADIR)/prometheus/grafana \
           $(DATADIR)/prometheus $(DATADIR)/systemd $(DATADIR) $(LIBEXECDIR) $(DOCDIR)
# (STATEDIR last: removed only once empty, after the store's files went.)
OWN_DIRS += $(STATEDIR)

# Rewrites the documented default paths (PREFIX=/usr) to the ones this install uses: the
# programs' directory, the deploy files and the docs, wherever they are named (with or without a
# trailing slash: spawn-fcgi.sh's LIBEXECDIR=${LIBEXECDIR:-/usr/lib/promfcgi}).
path_end = \([^A-Za-z0-9_.-]\|$$\)
fix_paths = sed -e 's,/usr/lib/promfcgi$(path_end),$(LIBEXECDIR)\1,g' \
                -e 's,/usr/share/promfcgi$(path_end),$(DATADIR)\1,g' \
                -e 's,/usr/share/doc/promfcgi$(path_end),$(DOCDIR)\1,g'

# The store's directory (see STATEDIR above). Into a DESTDIR: the directory only (its owner is the
# package's business: debian/promfcgi.postinst). Live, as root: the account first, then the
# directory, which is made only when missing.
make_statedir = \
	if [ -n "$(DESTDIR)" ] || [ "$$(id -u)" != 0 ]; then \
	    $(INSTALL) -d -m 0750 $(DESTDIR)$(STATEDIR); \
	elif [ ! -e $(STATEDIR) ]; then \
	    if ! id -u $(STORE_USER) >/dev/null 2>&1 && [ $(STORE_USER) = promfcgi ]; then \
	        if command -v systemd-sysusers >/dev/null; then systemd-sysusers $(abspath $(INST_SYSUSERS)); \
	        else useradd --system --user-group --home-dir /var/lib/promfcgi --no-create-home \
	                 --shell /usr/sbin/nologin promfcgi; fi; \
	    fi; \
	    $(INSTALL) -d -m 0750 -o $(STORE_USER) -g "$$(id -gn $(STORE_USER))" $(STATEDIR); \
	fi

# ldconfig after installing or removing the shared library into the live system (no DESTDIR),
# so that programs find libpromfcgi.so.$(SOVERSION) in LIBDIR (e.g. /usr/local/lib) at once.
run_ldconfig = if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

# promfcgi.pc: `pkg-config --libs promfcgi` gives -lpromfcgi alone, enough for the shared
# library, which records its own dependencies; `--static` adds what libpromfcgi.a needs
# (libfcgi, zlib, libm; SQLite is loaded at run time, store/sqlite.c). An app that calls FCGX_* itself (its own handler or accept
# loop, as with promfcgi_http.h) links libfcgi for its own sake: `pkg-config --libs promfcgi
# fcgi`. Putting -lfcgi in Libs would give apps that only record (pf_*) a dependency on
# libfcgi they do not use.
.PHONY: install uninstall
install: all $(INSTALL_BIN) $(INSTALL_FCGI_FROM)
	$(INSTALL) -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DATADIR) \
	    $(DESTDIR)$(DATADIR)/prometheus/rules $(DESTDIR)$(DATADIR)/prometheus/grafana \
	    $(DESTDIR)$(DATADIR)/prometheus/targets
	$(INSTALL) -m 0755 $(INSTALL_FCGI_FROM) $(DESTDIR)$(LIBEXECDIR)/
ifneq ($(strip $(INSTALL_BIN)),)
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/
endif
	$(INSTALL) -m 0644 include/promfcgi.h include/promfcgi_http.h $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 0644 $(STATICLIB) $(DESTDIR)$(LIBDIR)/libpromfcgi.a
	$(INSTALL) -m 0644 $(SHLIB) $(DESTDIR)$(LIBDIR)/
	ln -sfn $(notdir $(SHLIB)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sfn $(SONAME) $(DESTDIR)$(LIBDIR)/libpromfcgi.so
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	    'Name: promfcgi' \
	    'Description: Prometheus metrics for multi-process FastCGI apps (SQLite WAL store)' \
	    'Version: $(VERSION)' \
	    'Cflags: -I$${includedir}' \
	    'Libs: -L$${libdir} -lpromfcgi' \
	    'Requires.private: fcgi zlib' \
	    'Libs.private: -lm' \
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
ifneq ($(strip $(INST_MAN3)),)
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man3
	$(INSTALL) -m 0644 $(INST_MAN3) $(DESTDIR)$(MANDIR)/man3/
endif
ifneq ($(strip $(STATEDIR)),)
	$(make_statedir)
endif
	$(run_ldconfig)

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	for d in $(addprefix $(DESTDIR),$(OWN_DIRS)); do \
	    [ ! -d $$d ] || rmdir --ignore-fail-on-non-empty $$d; \
	done
	$(run_ldconfig)
