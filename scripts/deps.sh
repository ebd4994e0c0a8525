#!/bin/sh
# Install every Debian package mxlimit's build, tests, demo and benchmarks
# need.  Idempotent; non-interactive; run as root.
set -eu

# Every package named explicitly: apt-get runs with --no-install-recommends,
# so nothing arrives unless it is listed here.
#  build:        build-essential clang llvm pkg-config bpftool libbpf-dev
#                libelf-dev zlib1g-dev libcmocka-dev
#  netlink:      libnl-3-dev libnl-genl-3-dev (doctor's netdev query)
#                libnl-idiag-3-dev (sock_diag seeding)
#  labs:         iproute2 (ip, tc, ss) util-linux (nsenter, unshare, taskset,
#                chrt) iptables nftables ethtool procps (sysctl) iputils-ping
#                kmod coreutils gzip mawk sed psmisc
#  SMTP peers:   postfix (smtp-sink, smtp-source; no daemon is configured),
#                swaks with libio-socket-inet6-perl (swaks needs it for IPv6)
#  tests/tools:  python3 (standard library only), valgrind, cppcheck,
#                clang-tidy, libclang-rt-14-dev (libFuzzer, sanitizers)
PKGS="build-essential clang llvm pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev
libcmocka-dev libnl-3-dev libnl-genl-3-dev libnl-idiag-3-dev
iproute2 util-linux iptables nftables ethtool procps iputils-ping kmod coreutils gzip
mawk sed psmisc
postfix swaks libio-socket-inet6-perl
python3 valgrind cppcheck clang-tidy libclang-rt-14-dev"

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
