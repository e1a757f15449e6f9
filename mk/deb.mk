# SPDX-License-Identifier: MIT
# make deb: the Debian packages libpromfcgi1, libpromfcgi-dev and promfcgi, built by
# dpkg-buildpackage from debian/ in a copy of the checkout, then checked by lintian
# (scripts/deb). Settings, on the command line: DEB_OUT=build/deb (where the .deb files go),
# DEB_VERSION=0.4.0-2 (another version, with its own changelog entry), LINTIAN=no,
# DEB_BUILD_OPTIONS=nocheck.
.PHONY: deb
deb: deps
	scripts/deb
