#!/bin/sh
# Install every Debian package mxlimit's build, tests, demo and benchmarks
# need.  Idempotent; non-interactive; run as root.
set -eu

PKGS="build-essential clang llvm pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev
libnl-3-dev libnl-route-3-dev libcmocka-dev iproute2 iptables nftables ethtool
postfix swaks python3 procps psmisc kmod util-linux iputils-ping
libclang-rt-14-dev cppcheck clang-tidy valgrind"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing:$missing (run as root to install)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Postfix is installed for its smtp-sink / smtp-source test tools only: no
# configuration, so no mail daemon is set up or started.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: installed$missing"
