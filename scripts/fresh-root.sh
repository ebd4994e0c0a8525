#!/bin/bash
# Run the README's two commands (`make demo`, `make test`) in a fresh
# Debian 12 root: debootstrap --variant=minbase bookworm, plus `make` (a
# new machine has make; minbase has less than any real machine, so a
# package the project forgets to install shows up here and not on a
# user's machine).  The committed tree (git HEAD) is copied in, as CI's
# clean clone; nothing from this machine's /usr leaks in.  The root shares
# this machine's kernel, so this checks the packages and the scripts, not
# another kernel build (MXLIMIT_DISABLE forces the kernel fallbacks).
#
#   scripts/fresh-root.sh [--reuse] [--only demo|test] [DIR]
#
# DIR (default /var/tmp/mxlimit-fresh-root) is made anew unless --reuse
# (then only the tree is replaced, the packages stay).  Needs root,
# debootstrap and a Debian mirror (MIRROR, default deb.debian.org).
# Everything is mounted under DIR and unmounted at the end, also on
# failure.  Logs: DIR.log (debootstrap), DIR.demo.log, DIR.test.log.
# Exit status: that of the failing command.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
reuse=0 only=""
while [ $# -gt 0 ]; do
	case $1 in
	--reuse) reuse=1 ;;
	--only) only=$2; shift ;;
	-h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "fresh-root: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
R=${1:-/var/tmp/mxlimit-fresh-root}
case $only in ""|demo|test) ;; *) echo "fresh-root: --only demo or test" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "fresh-root: run as root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "fresh-root: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
case $R in /|/usr|/var|/tmp|/root|/home) echo "fresh-root: refusing DIR $R" >&2; exit 2 ;; esac

umount_all() {
	local m
	for m in tmp run dev sys proc; do
		mountpoint -q "$R/$m" && umount -R -l "$R/$m"
	done
	mountpoint -q "$R" && umount -l "$R"
	return 0
}
trap umount_all EXIT
trap 'exit 130' INT TERM
umount_all

if [ "$reuse" = 0 ] || [ ! -x "$R/usr/bin/apt-get" ]; then
	rm -rf --one-file-system "$R"
	echo "fresh-root: debootstrap bookworm (minbase) into $R"
	debootstrap --variant=minbase bookworm "$R" "$MIRROR" >"$R.log" 2>&1 ||
		{ echo "fresh-root: debootstrap failed (see $R.log)" >&2; exit 1; }
fi
rm -rf "$R/root/mxlimit" && mkdir -p "$R/root/mxlimit"
git -C "$ROOT" archive HEAD | tar -x -C "$R/root/mxlimit" || exit 1

# what a machine has mounted: / a mount point (ip netns needs it), /proc,
# /sys with bpffs and BTF, /dev, a tmpfs /run (netns bind mounts) and /tmp
mount --bind "$R" "$R" && mount --make-private "$R" &&
	mount -t proc proc "$R/proc" &&
	mount --rbind /sys "$R/sys" && mount --make-rslave "$R/sys" &&
	mount --rbind /dev "$R/dev" && mount --make-rslave "$R/dev" &&
	mount -t tmpfs tmpfs "$R/run" &&
	mount -t tmpfs -o size=8g tmpfs "$R/tmp" || { echo "fresh-root: mounts failed" >&2; exit 1; }
cp /etc/resolv.conf "$R/etc/resolv.conf"

inroot() {
	chroot "$R" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb CI=true \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "$1"
}
inroot 'command -v make >/dev/null || { apt-get update -qq &&
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make >/dev/null; }' ||
	{ echo "fresh-root: cannot install make" >&2; exit 1; }
for cmd in demo test; do
	[ -n "$only" ] && [ "$only" != $cmd ] && continue
	echo "fresh-root: make $cmd (log: $R.$cmd.log)"
	inroot "cd /root/mxlimit && make $cmd" >"$R.$cmd.log" 2>&1
	rc=$?
	tail -n 3 "$R.$cmd.log"
	[ $rc = 0 ] || { echo "fresh-root: make $cmd failed (exit $rc)"; exit $rc; }
done
echo "fresh-root: ok"
