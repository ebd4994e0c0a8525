# mk/deb.mk - `make deb`: the Debian package, built with debhelper from
# debian/ (included by the Makefile: `include mk/deb.mk`).
#
#   make deb    build/mxlimit_VERSION_ARCH.deb (plus its -dbgsym package,
#               .buildinfo and .changes), then lintian on it
#
# dpkg-buildpackage always writes its results to the PARENT directory of the
# source tree (../mxlimit_0.1.0-1_amd64.deb); this target moves them into
# $(BUILD)/.  The package is built in debian/build (debian/rules), so the
# work tree's build/ is neither used nor cleaned; -tc cleans debian/ after a
# successful build (debian/build, debian/mxlimit, debian/files, ...).  debian/rules generates
# vmlinux/vmlinux.h from /sys/kernel/btf/vmlinux, like `make`.
# Needs: debhelper dpkg-dev fakeroot lintian (and the build dependencies of
# debian/control, which scripts/deps.sh installs).
# LINTIAN_OPTS: more lintian options (e.g. --pedantic, --info).

DEB_VERSION  = $(shell dpkg-parsechangelog -S Version 2>/dev/null)
DEB_ARCH     = $(shell dpkg-architecture -qDEB_HOST_ARCH 2>/dev/null)
DEB_FILE     = mxlimit_$(DEB_VERSION)_$(DEB_ARCH).deb
LINTIAN_OPTS ?=

.PHONY: deb
deb:
	@test -n "$(DEB_VERSION)" || { echo "deb: dpkg-parsechangelog failed (apt-get install dpkg-dev)"; exit 2; }
	@mkdir -p $(BUILD)
	# make's own flags and variables (MAKEFLAGS, CFLAGS, SAN, ...) stay out of
	# the package build: debian/rules sets its own
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CFLAGS -u LDFLAGS -u CPPFLAGS \
		dpkg-buildpackage -b -us -uc -tc
	mv -f ../mxlimit_$(DEB_VERSION)_$(DEB_ARCH).deb ../mxlimit_$(DEB_VERSION)_$(DEB_ARCH).buildinfo \
		../mxlimit_$(DEB_VERSION)_$(DEB_ARCH).changes $(BUILD)/
	for f in ../mxlimit-dbgsym_$(DEB_VERSION)_$(DEB_ARCH).deb ../mxlimit-dbgsym_$(DEB_VERSION)_$(DEB_ARCH).ddeb; do \
		[ ! -f "$$f" ] || mv -f "$$f" $(BUILD)/; done
	lintian $(LINTIAN_OPTS) $(BUILD)/$(DEB_FILE)
	@echo "deb: $(BUILD)/$(DEB_FILE)"
