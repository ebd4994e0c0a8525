#!/bin/bash
# synflood (the flood lab's generator, tests/tools/synflood.c) smoke test:
# it sends exactly N SYNs, they all arrive (counted by mxlimit's stats on
# the server veth), their checksums are right (the server's TCP sees no
# checksum error), it stops on its time bound, and it refuses addresses
# outside the lab's ranges.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lab.sh"
need_root "synflood lab"
SYNFLOOD=$ROOT/$BUILD/tools/synflood
[ -x "$SYNFLOOD" ] || { fail "synflood built ($SYNFLOOD)"; exit 1; }

lab_setup || { fail "lab setup"; exit 1; }
# every SYN admitted: they reach TCP, which checks their checksums
pol=$(lab_policy synflood.ini <<'P'
[main]
ports = 25
[concurrency]
enabled = true
max = 100000
[rate_conn]
enabled = true
default = 100000/1m
P
)
lab_load_or_die "load" -i "$LAB_IF_SRV" -c "$pol"
mac=$(ip -n "$LAB_SRV" -br link show "$LAB_IF_SRV" | awk '{print $3}')
flood() { nsenter --net=/run/netns/$LAB_CLI timeout 30 "$SYNFLOOD" -i "$LAB_IF_CLI" --dst-mac "$mac" "$@"; }
syns() { lab_status_field counters | python3 -c 'import ast,sys; print(ast.literal_eval(sys.stdin.read())["syn"])'; }
tcp_field() { # a Tcp counter of the server namespace
	nsenter --net=/run/netns/$LAB_SRV awk -v f="$1" '$1 == "Tcp:" { if (!n) { for (i = 2; i <= NF; i++) c[$i] = i; n = 1 } else print $c[f] }' /proc/net/snmp
}
in0=$(tcp_field InSegs)

out=$(flood -d $LAB_SRV4 -s 198.19.0.0/16 -n 100 -c 1000 -t 20)
check_eq "IPv4: sends exactly -c packets" "$(echo "$out" | sed -n 's/.*sent=\([0-9]*\).*/\1/p')" 1000
check "IPv4: all 1000 SYNs counted by mxlimit" wait_for 30 [ "$(syns)" = 1000 ]
out=$(flood -d $LAB_SRV6 -s fd00:66:1::/48 --source-len 64 --fresh -c 500 -t 20)
check_eq "IPv6 fresh /64s: sends exactly -c packets" "$(echo "$out" | sed -n 's/.*sent=\([0-9]*\).*/\1/p')" 500
check "IPv6: all 1500 SYNs counted by mxlimit" wait_for 30 [ "$(syns)" = 1500 ]
# (random source ports: two SYNs may share a 4-tuple, the second is then a
# retransmission to mxlimit)
admitted=$(lab_status_field counters | python3 -c 'import ast,sys; c = ast.literal_eval(sys.stdin.read()); print(c["admitted"] + c["syn_retransmit"])')
check_eq "every SYN admitted (or a retransmission) by the permissive policy" "$admitted" 1500
in1=$(tcp_field InSegs)
check "the server's TCP received them ($((in1 - in0)) segments)" [ $((in1 - in0)) -ge 1500 ]
check_eq "no TCP checksum errors" "$(tcp_field InCsumErrors)" 0

# the time bound: a count it cannot reach in 1 s at 1000 pps
t0=$(date +%s%N)
out=$(flood -d $LAB_SRV4 -s 198.19.0.0/16 -c 1000000 -t 1 -r 1000)
ms=$((($(date +%s%N) - t0) / 1000000))
sent=$(echo "$out" | sed -n 's/.*sent=\([0-9]*\).*/\1/p')
check "stops after -t seconds ($ms ms)" [ "$ms" -lt 3000 ]
in_range() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
check "rate bound: about 1000 packets in 1 s (sent $sent)" in_range "${sent:-0}" 800 1100

flood -d 10.0.0.1 -s 198.19.0.0/16 -c 1 -t 1 >/dev/null 2>&1; rc=$?
check_eq "refuses a destination outside the lab ranges" "$rc" 2
flood -d $LAB_SRV4 -s 203.0.113.0/24 -c 1 -t 1 >/dev/null 2>&1; rc=$?
check_eq "refuses sources outside the lab ranges" "$rc" 2
flood -d $LAB_SRV4 -s 198.19.0.0/16 -c 1 >/dev/null 2>&1; rc=$?
check_eq "refuses to run without a time bound" "$rc" 2
exit $T_FAILED
