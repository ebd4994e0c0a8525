#!/bin/sh
# Install every Debian package mxlimit's build, tests, demo and benchmarks
# need.  Idempotent (only what is missing is installed); non-interactive;
# run as root.  Written for Debian 12.
set -eu

# Every package is named explicitly: apt-get runs with
# --no-install-recommends, so nothing arrives unless it is listed here or is
# a hard dependency of something listed.  Packages that every Debian has
# (Essential or priority required/important) are listed too, with what uses
# them, so that a minimal image or container is covered as well.
#
#  build (make, make asan, make bench)
#   build-essential      gcc, make, ar, libc6-dev; gcc's libasan/libubsan (SAN=1)
#   clang                BPF objects (-target bpf), fuzz targets, bench-flood's floors
#   llvm                 llvm-symbolizer: readable ASan/UBSan/libFuzzer stack traces
#   libclang-rt-dev      libFuzzer and clang's sanitizer runtimes (tests/fuzz)
#   pkg-config           the Makefile's libnl flags
#   bpftool              vmlinux.h, skeletons; map/prog dumps in test_drift, bench-flood
#   libbpf-dev libelf-dev zlib1g-dev   libbpf; zlib also for the state file
#   linux-libc-dev       <linux/bpf.h>, <linux/inet_diag.h>, ... (uapi headers)
#   libnl-3-dev libnl-genl-3-dev       doctor's netdev query (generic netlink)
#   libnl-idiag-3-dev    sock_diag seeding where iter/tcp is refused
#   libcmocka-dev        unit and BPF tests
#   libssl-dev           OpenSSL: TLS in mxlimit-proxy (libssl3 at run time)
#   libhiredis-dev       the Redis client of the daemon, proxy and policyd ([redis])
#  labs (tests/integration, make demo, make bench)
#   iproute2             ip (netns, veth, xdp), tc (bench-flood), ss
#   util-linux           nsenter, unshare, setpriv, mountpoint, taskset, chrt, prlimit
#   mount                umount (test_faults: bpffs not mounted)
#   procps               sysctl, ps
#   iputils-ping         ping (lab and flood-lab readiness)
#   kmod                 modprobe: the kernel autoloads veth, nf_tables, xt_* with it
#   nftables             nft (test_drift, bench-flood)
#   iptables             iptables(-restore), ip6tables(-restore) (bench-flood)
#   ethtool              GRO/TSO settings and XDP drop counters (bench-flood)
#   gzip                 zcat on the daemon's state file (test_daemon)
#   bc                   bench-proxy.sh's arithmetic
#   coreutils findutils grep sed mawk bash   timeout, stat, od, sha256sum,
#                        mkfifo, nproc; find/xargs (lint, fuzz); awk everywhere
#  SMTP peers
#   postfix              smtp-sink, smtp-source, and private instances the tests
#                        start and stop themselves: no system daemon is set up
#   swaks perl           the SMTP client of the proxy tests and test_proxy_e2e
#   libio-socket-inet6-perl   swaks's IPv6 support (only a Recommends of swaks;
#                        without it `swaks -6` fails)
#   libnet-ssleay-perl libio-socket-ssl-perl   swaks --tls / --tlsc (Recommends
#                        of swaks; libnet-dns-perl, MX lookup, is not used)
#   openssl              s_client in the TLS tests, test certificates
#  benchmark and test peers (installed with their services neither started
#  nor enabled)
#   postfwd policyd-rate-limit   Debian's policy servers, beside mxlimit-policyd
#   fail2ban             test_fail2ban runs fail2ban-server in the foreground
#   stunnel4             bench-tls: a TLS relay as the 'direct' TLS baseline
#   strace linux-perf    bench-tls row 4: syscalls per relayed message
#   redis-server         the cluster tests start their own redis-server by hand
#  packaging (make deb, test_deb)
#   debhelper dpkg-dev fakeroot lintian
#  tests and tools
#   bash-completion      the completion test (contrib/bash-completion)
#   tmux                 a real terminal for `top --watch` (test_top_watch)
#   python3              lab client/server, proxy test peers, JSON checks
#                        (standard library only; /usr/bin/python3 in test_daemon)
#   valgrind             the valgrind group;  cppcheck clang-tidy   the lint group
#  this script: dpkg (dpkg-query), debconf (debconf-set-selections), apt
PKGS="build-essential clang llvm libclang-rt-dev pkg-config bpftool libbpf-dev libelf-dev
zlib1g-dev linux-libc-dev libnl-3-dev libnl-genl-3-dev libnl-idiag-3-dev libcmocka-dev
iproute2 util-linux mount procps iputils-ping kmod nftables iptables ethtool gzip bc
coreutils findutils grep sed mawk bash
postfix swaks perl libio-socket-inet6-perl libnet-ssleay-perl libio-socket-ssl-perl
libssl-dev libhiredis-dev openssl postfwd policyd-rate-limit fail2ban stunnel4 strace linux-perf redis-server
debhelper dpkg-dev fakeroot lintian
python3 valgrind cppcheck clang-tidy bash-completion tmux"

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
# Packages that ship a service (postfwd, policyd-rate-limit, redis-server) must not start
# it: the tests and benchmarks run their own instances.  invoke-rc.d asks
# /usr/sbin/policy-rc.d; one that exits 101 forbids starting anything.  A
# policy-rc.d already there (a container's) is left as it is.
RCD=/usr/sbin/policy-rc.d
if [ ! -e "$RCD" ]; then
	printf '#!/bin/sh\n# mxlimit deps.sh: no service starts during this install\nexit 101\n' >"$RCD"
	chmod 755 "$RCD"
	trap 'rm -f "$RCD"' EXIT
fi
apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -qq --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $missing >/dev/null
# ...and never enabled at boot either: the benchmark peers run only when the
# bench starts them (their postinst enables them).
for svc in postfwd policyd-rate-limit fail2ban stunnel4 redis-server; do
	case " $missing " in *" $svc "*) ;; *) continue ;; esac
	# deb-systemd-helper acts only when it believes dpkg called it
	if [ -e "/lib/systemd/system/$svc.service" ] && command -v deb-systemd-helper >/dev/null; then
		DPKG_MAINTSCRIPT_PACKAGE=$svc deb-systemd-helper disable "$svc.service" >/dev/null 2>&1 || true
	fi
	rm -f "/etc/systemd/system/multi-user.target.wants/$svc.service"
	if [ -e "/etc/init.d/$svc" ]; then
		update-rc.d "$svc" disable >/dev/null 2>&1 || true
	fi
done
echo "deps: installed$missing"
