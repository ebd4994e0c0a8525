#!/bin/bash
# The Debian package (issue 14, point 1): `make deb` (mk/deb.mk, debian/)
# in a scratch copy of the tree (the work tree gets no build products and
# dpkg-buildpackage writes to the copy's parent), then checks of the .deb:
#   - lintian reports no error (warnings are printed as TAP comments);
#   - Depends names the shared libraries the binaries link (every NEEDED
#     library's package) and no build tool;
#   - the files: binaries, man pages, docs, examples, units in
#     lib/systemd/system, bash completion, /etc/default/mxlimit;
#   - conffiles: /etc/mxlimit/limit.ini and /etc/default/mxlimit;
#   - the maintainer scripts: the group mxlimit, no unit started at install,
#     mxlimit and mxlimit-daemon enabled, the front ends not;
#   - dpkg-deb -x into a scratch root, then the extracted `mxlimit --version`
#     and `mxlimit check` on the shipped limit.ini (the system's libraries);
#   - against the real system: `dpkg --dry-run -i` (unpack simulation, no
#     file conflicts) and the Depends satisfied by what is installed
#     (dpkg-checkbuilddeps -d; `dpkg --dry-run` itself does not check them).
# Nothing is installed.  The build takes about 30 s.
# Skips when dpkg-buildpackage, debhelper, fakeroot or lintian is missing
# (apt-get install debhelper lintian dpkg-dev fakeroot), without
# /sys/kernel/btf/vmlinux (the build generates vmlinux.h from it), or with
# SKIP_DEB=1.
# suite-lane: pool (no namespace, pin dir or port: beside the labs)
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C

if [ "${SKIP_DEB:-0}" = 1 ]; then
	skip "Debian package" "SKIP_DEB=1"; exit 0
fi
for t in dpkg-buildpackage:dpkg-dev dpkg-deb:dpkg dh:debhelper fakeroot:fakeroot lintian:lintian; do
	if ! command -v "${t%%:*}" >/dev/null 2>&1; then
		skip "Debian package" "${t%%:*} missing (Debian package ${t#*:})"; exit 0
	fi
done
if [ ! -r /sys/kernel/btf/vmlinux ]; then
	skip "Debian package" "no /sys/kernel/btf/vmlinux to generate vmlinux.h from"; exit 0
fi

tmp=$(mktemp -d)
on_exit rm -rf "$tmp"
src=$tmp/src
mkdir -p "$src"

# --- a copy of the sources: tracked files and new ones not ignored (debian/
# may not be committed yet), or everything but build products without git
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$ROOT" && git ls-files -z -co --exclude-standard) |
		(cd "$ROOT" && tar --null -T - -cf -) | tar -xf - -C "$src"
else
	(cd "$ROOT" && tar --exclude=./build --exclude=./debian/build --exclude=./debian/mxlimit \
		--exclude=./vmlinux/vmlinux.h -cf - .) | tar -xf - -C "$src"
fi
check "source copy has debian/ and mk/deb.mk" test -x "$src/debian/rules" -a -f "$src/mk/deb.mk" || exit 1

# --- make deb (the Makefile includes mk/deb.mk, or not yet)
if grep -q '^include mk/deb.mk' "$src/Makefile"; then
	mk=(make -C "$src")
else
	mk=(make -C "$src" -f Makefile -f mk/deb.mk)
fi
t0=$(date +%s)
if "${mk[@]}" deb BUILD=out >"$tmp/build.log" 2>&1; then
	ok "make deb ($(($(date +%s) - t0)) s)"
else
	# (lintian's errors fail make deb too: then the checks below still run)
	fail "make deb ($(($(date +%s) - t0)) s)"
	tail -40 "$tmp/build.log" | sed 's/^/# /'
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
version=$(cd "$src" && dpkg-parsechangelog -S Version)
deb=$src/out/mxlimit_${version}_${arch}.deb
check "make deb leaves $(basename "$deb") in \$(BUILD)" test -f "$deb" || exit 1
check "dpkg-buildpackage's files moved out of the parent directory" \
	test -z "$(find "$tmp" -maxdepth 1 -name 'mxlimit*' -print -quit)"
check "the package build cleaned up after itself (dpkg-buildpackage -tc)" \
	test ! -e "$src/debian/build" -a ! -e "$src/debian/mxlimit"

# --- lintian: the run in `make deb` and one here, with its output
lintian "$deb" >"$tmp/lintian" 2>&1
grep -E '^[EWIPNX]: ' "$tmp/lintian" | sed 's/^/# lintian: /'
if grep -q '^E: ' "$tmp/lintian"; then
	fail "lintian: no errors"
else
	ok "lintian: no errors ($(grep -c '^W: ' "$tmp/lintian") warnings)"
fi

# --- Depends: the shared libraries, not the build tools
depends=$(dpkg-deb -f "$deb" Depends)
echo "# Depends: $depends"
dep_names=" $(echo "$depends" | sed 's/[,|]/\n/g' | sed -e 's/([^)]*)//' -e 's/:any//' | awk 'NF { print $1 }' | tr '\n' ' ')"
has_dep() { case "$dep_names" in *" $1 "*) return 0 ;; esac; return 1; }
for p in libbpf1 libssl3 zlib1g libnl-3-200 libnl-genl-3-200 libnl-idiag-3-200 libc6 adduser; do
	check "Depends has $p" has_dep "$p"
done
# libelf: libbpf uses it, mxlimit does not link it directly
# (no NEEDED libelf.so.1), so it comes through libbpf1's own Depends
check "libelf1 comes with libbpf1" sh -c "dpkg-query -W -f='\${Depends}' libbpf1 | grep -q libelf1"
bad=
for p in clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev libssl-dev libnl-3-dev \
	libnl-genl-3-dev libnl-idiag-3-dev linux-libc-dev pkg-config gcc make debhelper; do
	has_dep "$p" && bad="$bad $p"
done
check_eq "Depends has no build tool" "${bad# }" ""

# --- the files
root=$tmp/root
mkdir -p "$root"
dpkg-deb -x "$deb" "$root"
missing=
for f in usr/sbin/mxlimit usr/sbin/mxlimit-proxy usr/sbin/mxlimit-policyd \
	usr/share/man/man8/mxlimit.8.gz usr/share/man/man8/mxlimit-proxy.8.gz \
	usr/share/man/man8/mxlimit-policyd.8.gz usr/share/man/man5/limit.ini.5.gz \
	etc/mxlimit/limit.ini etc/default/mxlimit \
	lib/systemd/system/mxlimit.service lib/systemd/system/mxlimit-daemon.service \
	lib/systemd/system/mxlimit-proxy.service lib/systemd/system/mxlimit-policyd.service \
	usr/share/bash-completion/completions/mxlimit \
	usr/share/bash-completion/completions/mxlimit-proxy \
	usr/share/bash-completion/completions/mxlimit-policyd \
	usr/share/doc/mxlimit/README.md usr/share/doc/mxlimit/systemd.md \
	usr/share/doc/mxlimit/mxlimit-daemon.md usr/share/doc/mxlimit/copyright \
	usr/share/doc/mxlimit/examples/limit.ini \
	usr/share/doc/mxlimit/examples/fail2ban/action.d/mxlimit.conf; do
	[ -e "$root/$f" ] || missing="$missing $f"
done
check_eq "package has binaries, man pages, units, completion, docs, examples" "${missing# }" ""
check "limit.ini is config/limit.ini" cmp -s "$root/etc/mxlimit/limit.ini" "$src/config/limit.ini"
check "/etc/default/mxlimit is contrib/systemd/default.mxlimit" \
	cmp -s "$root/etc/default/mxlimit" "$src/contrib/systemd/default.mxlimit"
for u in mxlimit mxlimit-daemon mxlimit-proxy mxlimit-policyd; do
	check "unit $u.service is contrib's" \
		cmp -s "$root/lib/systemd/system/$u.service" "$src/contrib/systemd/$u.service"
done
check "completion links mxlimit-proxy, mxlimit-policyd -> mxlimit" sh -c \
	"[ \"\$(readlink '$root/usr/share/bash-completion/completions/mxlimit-proxy')\" = mxlimit ] &&
	 [ \"\$(readlink '$root/usr/share/bash-completion/completions/mxlimit-policyd')\" = mxlimit ]"
check "units' ExecStart binaries are in usr/sbin" sh -c \
	"grep -ho '/usr/sbin/[a-z-]*' '$root'/lib/systemd/system/*.service | sort -u |
	 while read -r b; do test -x '$root'\"\$b\" || exit 1; done"

# every shared library a binary needs comes from a package in Depends
nolib=
for b in mxlimit mxlimit-proxy mxlimit-policyd; do
	for so in $(objdump -p "$root/usr/sbin/$b" | awk '$1 == "NEEDED" { print $2 }'); do
		path=$(ldconfig -p | awk -v so="$so" '$1 == so { print $NF; exit }')
		pkg=$(dpkg-query -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
		[ -z "$pkg" ] && pkg=$(dpkg-query -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
		has_dep "$pkg" || nolib="$nolib $b:$so(${pkg:-?})"
	done
done
check_eq "every NEEDED library's package is in Depends" "${nolib# }" ""

# --- control files
dpkg-deb -e "$deb" "$tmp/control"
echo "# conffiles: $(tr '\n' ' ' <"$tmp/control/conffiles")"
check "conffile /etc/mxlimit/limit.ini" grep -qx /etc/mxlimit/limit.ini "$tmp/control/conffiles"
check "conffile /etc/default/mxlimit" grep -qx /etc/default/mxlimit "$tmp/control/conffiles"
check "postinst creates the system group mxlimit" \
	grep -q 'addgroup --system --quiet mxlimit' "$tmp/control/postinst"
check "no unit is started at install" sh -c \
	"! grep -Eq 'deb-systemd-invoke (start|restart)|systemctl (start|restart)' '$tmp/control/postinst'"
check "mxlimit and mxlimit-daemon are enabled at install" sh -c \
	"grep -q \"deb-systemd-helper enable 'mxlimit.service'\" '$tmp/control/postinst' &&
	 grep -q \"deb-systemd-helper enable 'mxlimit-daemon.service'\" '$tmp/control/postinst'"
check "mxlimit-proxy and mxlimit-policyd are not enabled at install" sh -c \
	"grep -q \"debian-installed 'mxlimit-proxy.service'\" '$tmp/control/postinst' &&
	 grep -q \"debian-installed 'mxlimit-policyd.service'\" '$tmp/control/postinst'"
check "an upgrade stops nothing before unpacking" sh -c \
	"! grep -qs 'deb-systemd-invoke stop' '$tmp/control/preinst'"
check "removal stops the units" grep -q 'deb-systemd-invoke stop' "$tmp/control/prerm"

# --- the extracted binaries run, with the system's libraries
check_eq "extracted mxlimit --version" "$("$root/usr/sbin/mxlimit" --version 2>&1)" "mxlimit ${version%%-*}"
if (cd "$root" && ./usr/sbin/mxlimit check -c etc/mxlimit/limit.ini) >"$tmp/check.out" 2>&1; then
	ok "extracted mxlimit check -c etc/mxlimit/limit.ini"
else
	fail "extracted mxlimit check -c etc/mxlimit/limit.ini"
	sed 's/^/# /' "$tmp/check.out"
fi
if "$root/usr/sbin/mxlimit-proxy" -t -c "$root/etc/mxlimit/limit.ini" >"$tmp/proxy.out" 2>&1; then
	ok "extracted mxlimit-proxy -t on the shipped limit.ini"
else
	fail "extracted mxlimit-proxy -t on the shipped limit.ini"
	sed 's/^/# /' "$tmp/proxy.out"
fi

# --- against the real system, without installing anything
if dpkg --dry-run -i "$deb" >"$tmp/dry" 2>&1; then
	ok "dpkg --dry-run -i (no file conflicts)"
else
	fail "dpkg --dry-run -i"
	sed 's/^/# /' "$tmp/dry"
fi
# dpkg --dry-run does not look at Depends: check them against what is
# installed (the checker itself must see an unmet one)
if dpkg-checkbuilddeps -d "$depends" /dev/null >"$tmp/deps" 2>&1; then
	ok "Depends satisfied by the installed system"
else
	fail "Depends satisfied by the installed system"
	sed 's/^/# /' "$tmp/deps"
fi
check "the Depends check sees an unmet dependency" sh -c \
	"! dpkg-checkbuilddeps -d 'nonexistent-package-mxlimit-test' /dev/null >/dev/null 2>&1"
st=$(dpkg-query -W -f='${db:Status-Status}' mxlimit 2>/dev/null)
case $st in
""|not-installed|config-files) ok "mxlimit is still not installed (${st:-unknown})" ;;
*) fail "mxlimit is still not installed (status $st)" ;;
esac

exit "$T_FAILED"
