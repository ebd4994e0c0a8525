# scripts/flood-lib.sh - the flood lab: namespaces, limiters, measurements.
# Sourced by scripts/bench-flood.sh (and usable by tests).  Set ROOT and
# BUILD first.
#
#   leg (legit client) --veth-- gen (synflood; routes leg) --veth-- srv (smtp-sink :25, limiter)
#
#   fl_setup                 three namespaces, two veth pairs, smtp-sink
#   fl_limiter NAME [ARGS]   install one limiter in the server namespace only:
#                            none | mxlimit-native INI | mxlimit-generic INI |
#                            iptables CFG | nftables CFG | xdp-drop OBJ (a floor:
#                            an XDP program that drops everything) | tc-drop OBJ
#                            (a floor: a tc ingress program dropping everything)
#   fl_measure LABEL FAMILY SYNFLOOD-ARGS...
#                            legit client + flood + counters -> one result line
#                            in $FL_DIR/results
#
# Addresses (all in 198.18.0.0/15 and fd00::/8):
#   srv 198.18.0.1/24 fd00:18::1/64 -- gen 198.18.0.2 fd00:18::2
#   gen 198.18.1.1/24 fd00:18:1::1/64 -- leg 198.18.1.2 fd00:18:1::2
#   spoofed sources: 198.19.0.0/16 and fd00:66::/32 (the server's replies to
#   them are routed to the generator's namespace and dropped there)
#
# CPU attribution.  The server's flood-facing veth runs threaded NAPI
# (GRO on, so every limiter gets the same NAPI path; XDP turns NAPI on by
# itself), one thread per queue, pinned to CPU $FL_RX_CPU; the generator and
# the other hops' NAPI threads run on CPU $FL_GEN_CPU.  Everything the server
# does with a flood packet — XDP (native or generic), skb, GRO, IP,
# netfilter/conntrack, TCP's SYN handling and sending the SYN-ACK into the
# veth — runs in those threads, including softirqs they raise (this kernel
# has no IRQ_TIME_ACCOUNTING, so softirq time run inside a task is charged
# to it).  Receiver CPU = the threads' sum_exec_runtime delta
# (/proc/PID/schedstat, ns), over the packets that entered their rings (the
# generator veth's tx_packets delta: a frame a full ring refuses is not
# counted as sent).
# Other work on the machine does not leak into it, which matters here: other
# jobs share the 2 CPUs.

FL_ID=${FL_ID:-$$}
FL_SRV=mxfl-srv-$FL_ID
FL_GEN=mxfl-gen-$FL_ID
FL_LEG=mxfl-leg-$FL_ID
FL_IFS=$(echo "fs$FL_ID" | cut -c1-10) # server side, towards gen
FL_IFG=$(echo "fg$FL_ID" | cut -c1-10) # gen side
FL_IFL=$(echo "fl$FL_ID" | cut -c1-10) # gen side, towards leg
FL_IFC=$(echo "fc$FL_ID" | cut -c1-10) # leg side
FL_PIN=/sys/fs/bpf/mxlimit-flood-$FL_ID
FL_DIR=${FL_DIR:-$(mktemp -d /tmp/mxlimit-flood-XXXXXX)}
FL_MX=$ROOT/$BUILD/mxlimit
FL_SYNFLOOD=$ROOT/$BUILD/tools/synflood
FL_LEGIT=$ROOT/$BUILD/tools/legit
FL_GEN_CPU=${FL_GEN_CPU:-0}
FL_RX_CPU=${FL_RX_CPU:-1}
# Other jobs share the machine: the lab's processes and the NAPI thread
# run at a higher priority so that they, not the neighbours, decide the
# result (a NIC's softirq also preempts user tasks).
FL_NICE=${FL_NICE:--10}
# The NAPI thread stands in for a softirq, which preempts tasks: it runs
# SCHED_FIFO 50 like a threaded IRQ handler, so a neighbour's task never
# delays it long enough to overflow the veth ring (256 frames, 0.5 ms at
# 0.5 Mpps).  RT throttling still leaves others 5 % of its CPU.
FL_NAPI_PRIO=${FL_NAPI_PRIO:-50}
FL_LEGIT_PRIO=${FL_LEGIT_PRIO:-10}
FL_QUEUES=${FL_QUEUES:-8}
FL_COALESCE_NS=${FL_COALESCE_NS:-0}
FL_XPS_MASK=$(printf '%x' $(((1 << $(nproc)) - 1)))
FL_PIDS=""
FL_LIMITER=none

fl_ns() { local ns=$1; shift; nsenter --net=/run/netns/"$ns" "$@"; }
fl_mx() { nsenter --net=/run/netns/$FL_SRV "$FL_MX" --pin-dir "$FL_PIN" "$@"; }

fl_cleanup() {
	local p
	for p in $FL_PIDS; do kill "$p" 2>/dev/null; done
	if [ -e /run/netns/$FL_SRV ]; then
		fl_mx unload --all >/dev/null 2>&1
		# the firewall tables live in the namespace and go with it
		ip netns del "$FL_SRV" 2>/dev/null
	fi
	ip netns del "$FL_GEN" 2>/dev/null
	ip netns del "$FL_LEG" 2>/dev/null
	rm -rf "$FL_PIN" 2>/dev/null
	rm -f "/run/mxlimit/policy-$(echo "$FL_PIN" | tr / _)"
	[ -n "${FL_KEEP_DIR:-}" ] || rm -rf "$FL_DIR"
}

fl_setup() {
	local ns
	ip netns add "$FL_SRV" && ip netns add "$FL_GEN" && ip netns add "$FL_LEG" || return 1
	# FL_QUEUES receive queues, as a NIC's RSS: each has its own 256-frame
	# ring and NAPI thread, and the flood's spoofed flows hash over all of
	# them.  Together they buffer FL_QUEUES x 256 frames, which rides out
	# the milliseconds for which this VM's vCPU scheduling now and then
	# stalls the receiver; one ring alone overflows then.
	ip link add "$FL_IFS" netns "$FL_SRV" numtxqueues "$FL_QUEUES" numrxqueues "$FL_QUEUES" type veth \
		peer name "$FL_IFG" netns "$FL_GEN" numtxqueues "$FL_QUEUES" numrxqueues "$FL_QUEUES" || return 1
	ip link add "$FL_IFL" netns "$FL_GEN" type veth peer name "$FL_IFC" netns "$FL_LEG" || return 1
	ip -n "$FL_SRV" addr add 198.18.0.1/24 dev "$FL_IFS"
	ip -n "$FL_SRV" addr add fd00:18::1/64 dev "$FL_IFS" nodad
	ip -n "$FL_GEN" addr add 198.18.0.2/24 dev "$FL_IFG"
	ip -n "$FL_GEN" addr add fd00:18::2/64 dev "$FL_IFG" nodad
	ip -n "$FL_GEN" addr add 198.18.1.1/24 dev "$FL_IFL"
	ip -n "$FL_GEN" addr add fd00:18:1::1/64 dev "$FL_IFL" nodad
	ip -n "$FL_LEG" addr add 198.18.1.2/24 dev "$FL_IFC"
	ip -n "$FL_LEG" addr add fd00:18:1::2/64 dev "$FL_IFC" nodad
	# the late client's own source (FL_LEGIT_LATE): never seen before it
	# appears in the middle of a flood
	ip -n "$FL_LEG" addr add 198.18.1.3/24 dev "$FL_IFC"
	ip -n "$FL_LEG" addr add fd00:18:1::3/64 dev "$FL_IFC" nodad
	for ns in "$FL_SRV" "$FL_GEN" "$FL_LEG"; do ip -n "$ns" link set lo up; done
	ip -n "$FL_SRV" link set "$FL_IFS" up
	ip -n "$FL_GEN" link set "$FL_IFG" up
	ip -n "$FL_GEN" link set "$FL_IFL" up
	ip -n "$FL_LEG" link set "$FL_IFC" up
	# the legitimate client reaches the server through the generator's
	# namespace (a router), so its packets share the server's receive ring
	# and NAPI thread with the flood, as on a real server's NIC
	fl_ns "$FL_GEN" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	ip -n "$FL_LEG" route add default via 198.18.1.1
	ip -n "$FL_LEG" -6 route add default via fd00:18:1::1
	ip -n "$FL_SRV" route add 198.18.1.0/24 via 198.18.0.2
	ip -n "$FL_SRV" -6 route add fd00:18:1::/64 via fd00:18::2
	# replies to spoofed sources leave the server as on a real network (so
	# its TCP keeps request sockets and SYN-cookie state as it would) and
	# die in the generator's namespace, on the generator's CPU
	ip -n "$FL_SRV" route add 198.19.0.0/16 via 198.18.0.2
	ip -n "$FL_SRV" -6 route add fd00:66::/32 via fd00:18::2
	ip -n "$FL_GEN" route add blackhole 198.19.0.0/16
	ip -n "$FL_GEN" -6 route add blackhole fd00:66::/32
	# no reverse-path filter (a real server's default route would pass the
	# spoofed sources anyway)
	fl_ns "$FL_SRV" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		"net.ipv4.conf.$FL_IFS.rp_filter=0"
	# the same NAPI path for every limiter (see the top of this file)
	fl_ns "$FL_SRV" ethtool -K "$FL_IFS" gro on >/dev/null || return 1
	# veth hands a sender's skb to the peer's NAPI (rather than netif_rx) only
	# when the sending end has no TSO (veth_skb_is_eligible_for_gro)
	fl_ns "$FL_GEN" ethtool -K "$FL_IFG" tso off >/dev/null || return 1
	# The other hops (server -> gen, gen <-> leg) carry only legitimate
	# traffic: threaded NAPI too, on the generator's CPU, above it, so that
	# their backlog never waits for a ksoftirqd starved by the server's
	# SCHED_FIFO NAPI threads (that showed as 200 ms connects)
	fl_napi_on "$FL_GEN" "$FL_IFG" "$FL_SRV" "$FL_IFS" || return 1
	fl_napi_on "$FL_GEN" "$FL_IFL" "$FL_LEG" "$FL_IFC" || return 1
	fl_napi_on "$FL_LEG" "$FL_IFC" "$FL_GEN" "$FL_IFL" || return 1
	ip netns exec "$FL_SRV" sh -c "echo 1 > /sys/class/net/$FL_IFS/threaded" || return 1
	# interrupt coalescing, as a NIC's rx-usecs: a poll that finds its ring
	# empty keeps NAPI scheduled for FL_COALESCE_NS instead of sleeping at
	# once, so a thread handles a batch per wake-up, not a frame
	if [ "$FL_COALESCE_NS" != 0 ]; then
		ip netns exec "$FL_SRV" sh -c "echo $FL_COALESCE_NS > /sys/class/net/$FL_IFS/gro_flush_timeout &&
			echo 1000 > /sys/class/net/$FL_IFS/napi_defer_hard_irqs" || return 1
	fi
	# transmit queues chosen by flow hash from either CPU (XPS: every CPU
	# maps to every queue); without it a packet socket on CPU 0 always
	# sends on queue 0, and one ring takes the whole flood
	ip netns exec "$FL_GEN" sh -c "for q in /sys/class/net/$FL_IFG/queues/tx-*; do echo $FL_XPS_MASK > \$q/xps_cpus; done" || return 1
	FL_DST_MAC=$(ip -n "$FL_SRV" -br link show "$FL_IFS" | awk '{print $3}')
	fl_wait_ping 198.18.0.1 && fl_wait_ping fd00:18::1 || return 1
	# one smtp-sink per family ([::] made v6-only so 0.0.0.0 can bind too).
	# Started with nsenter itself, not through a shell function, so that $!
	# is the process (nsenter execs into timeout) and a kill reaches it.
	fl_ns "$FL_SRV" sysctl -qw net.ipv6.bindv6only=1
	# the MTA lives on the server's CPU, with the NAPI threads (not with the
	# generator, which stands for other machines)
	nsenter --net=/run/netns/"$FL_SRV" nice -n "$FL_NICE" taskset -c "$FL_RX_CPU" timeout 3600 smtp-sink -u nobody -c 0.0.0.0:25 4096 \
		>"$FL_DIR/sink4.out" 2>&1 &
	FL_PIDS="$FL_PIDS $!"
	nsenter --net=/run/netns/"$FL_SRV" nice -n "$FL_NICE" taskset -c "$FL_RX_CPU" timeout 3600 smtp-sink -u nobody -c '[::]:25' 4096 \
		>"$FL_DIR/sink6.out" 2>&1 &
	FL_PIDS="$FL_PIDS $!"
	for _ in $(seq 50); do
		[ "$(fl_ns "$FL_SRV" ss -Hltn 'sport = :25' | grep -c LISTEN)" = 2 ] && return 0
		sleep 0.1
	done
	echo "flood-lab: smtp-sink did not start" >&2
	return 1
}

fl_wait_ping() { # the legitimate client reaches ADDR (bounded)
	for _ in $(seq 30); do
		fl_ns "$FL_LEG" ping -c1 -W1 "$1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "flood-lab: $FL_LEG cannot reach $1" >&2
	return 1
}

# fl_napi_on NS IF PEER_NS PEER_IF: threaded NAPI on IF's receive side
fl_napi_on() {
	fl_ns "$3" ethtool -K "$4" tso off >/dev/null &&
		fl_ns "$1" ethtool -K "$2" gro on >/dev/null &&
		ip netns exec "$1" sh -c "echo 1 > /sys/class/net/$2/threaded"
}

# The legitimate path's NAPI threads (on the generator side), pinned to the
# generator's CPU at SCHED_FIFO just below the server's
fl_path_threads() {
	local p
	for p in $(ps -eo pid=,comm= | awk -v a="napi/$FL_IFG-" -v b="napi/$FL_IFL-" -v c="napi/$FL_IFC-" \
		'index($2, a) == 1 || index($2, b) == 1 || index($2, c) == 1 {print $1}'); do
		taskset -pc "$FL_GEN_CPU" "$p" >/dev/null 2>&1
		chrt -f -p $((FL_NAPI_PRIO - 10)) "$p" >/dev/null 2>&1
	done
}

# The NAPI threads of the server's flood-facing veth ("napi/IFNAME-ID",
# one per receive queue), pinned to the receiver CPU.  XDP attach/detach
# re-creates them, so look them up again before every measurement.
fl_napi_pids() {
	local pids p
	pids=$(ps -eo pid=,comm= | awk -v p="napi/$FL_IFS-" 'index($2, p) == 1 {print $1}')
	[ -n "$pids" ] || return 1
	for p in $pids; do
		taskset -pc "$FL_RX_CPU" "$p" >/dev/null 2>&1
		chrt -f -p "$FL_NAPI_PRIO" "$p" >/dev/null 2>&1
	done
	echo $pids
}

# CPU time (ns) of the given threads, summed
# segments the server's TCP received (IPv4 and IPv6 share the counter):
# what no limiter dropped before TCP
fl_tcp_insegs() {
	fl_ns "$FL_SRV" awk '$1 == "Tcp:" { if (!n) { for (i = 2; i <= NF; i++) if ($i == "InSegs") c = i; n = 1 } else print $c }' /proc/net/snmp
}

fl_runtime_ns() {
	local p t=0
	for p in "$@"; do t=$((t + $(awk '{print $1}' "/proc/$p/schedstat"))); done
	echo "$t"
}
fl_link_stat() { # NS IF FIELD(tx_packets|rx_packets|tx_dropped|rx_dropped)
	cat "/sys/class/net/$2/statistics/$3" 2>/dev/null ||
		ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"
}

# ---- limiters ---------------------------------------------------------

fl_limiter_clear() {
	case $FL_LIMITER in
	mxlimit-*) fl_mx unload --all >/dev/null 2>&1 ;;
	iptables)
		fl_ns "$FL_SRV" iptables -F INPUT
		fl_ns "$FL_SRV" ip6tables -F INPUT
		fl_ns "$FL_SRV" iptables -t raw -F 2>/dev/null
		fl_ns "$FL_SRV" ip6tables -t raw -F 2>/dev/null ;;
	nftables) fl_ns "$FL_SRV" nft delete table inet mxfl 2>/dev/null ;;
	esac
	FL_LIMITER=none
}

# fl_limiter KIND FILE: FILE is a limit.ini for mxlimit, an iptables-restore
# file for iptables, an nft script for nftables.
fl_limiter() {
	fl_limiter_clear
	case $1 in
	none) ;;
	mxlimit-native) fl_mx load -i "$FL_IFS" -c "$2" --mode native || return 1 ;;
	mxlimit-generic) fl_mx load -i "$FL_IFS" -c "$2" --mode generic || return 1 ;;
	xdp-drop) ip -n "$FL_SRV" link set dev "$FL_IFS" xdpdrv obj "$2" sec xdp || return 1 ;;
	tc-drop)
		fl_ns "$FL_SRV" tc qdisc add dev "$FL_IFS" clsact || return 1
		fl_ns "$FL_SRV" tc filter add dev "$FL_IFS" ingress bpf da obj "$2" sec tc || return 1 ;;
	iptables)
		case $2 in
		*.v6) fl_ns "$FL_SRV" ip6tables-restore <"$2" || return 1 ;;
		*) fl_ns "$FL_SRV" iptables-restore <"$2" || return 1 ;;
		esac ;;
	nftables) fl_ns "$FL_SRV" nft -f "$2" || return 1 ;;
	*) echo "flood-lab: unknown limiter $1" >&2; return 1 ;;
	esac
	FL_LIMITER=$1
}

# ---- one measurement ----------------------------------------------------

FL_SECONDS=${FLOOD_SECONDS:-10}
# The flood's packet bound: far above what one core sends in the time.
FL_MAX_PACKETS=${FLOOD_MAX_PACKETS:-$((2000000 * FL_SECONDS))}
FL_LEGIT_INTERVAL_MS=${FL_LEGIT_INTERVAL_MS:-50}

# kv FILE KEY: the value of KEY=... on the last matching line
fl_kv() { tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k {v = $2} END {print v}'; }

# fl_measure LABEL FAMILY(4|6) SYNFLOOD-ARGS...
# Runs the legit client for the flood's time plus a second on each side,
# the flood (flat out, bounded), and appends one line to $FL_DIR/results:
#   label sent_pps absorbed_pps rx_ns_per_pkt legit_ok/attempts median_ms p99_ms
#   rx_busy% flood_seconds ring_full_retries tcp_segments_in
fl_measure() {
	local label=$1 fam=$2 dst napi r0 r1 tx0 tx1 in0 in1 lpid spid="" out src late=0 lsecs
	shift 2
	if [ "$fam" = 6 ]; then dst=fd00:18::1 src=fd00:18:1::3; else dst=198.18.0.1 src=198.18.1.3; fi
	napi=$(fl_napi_pids) || { echo "flood-lab: no NAPI thread for $FL_IFS" >&2; return 1; }
	fl_path_threads
	out=$FL_DIR/$label
	# the client stands for a remote host: SCHED_FIFO (below the NAPI
	# threads) so that its own wait for a CPU on this 2-vCPU box, shared
	# with the generator, stays out of the connect latency
	# FL_LEGIT_LATE=1: the client is a source mxlimit has never seen, and
	# its first SYN comes in the middle of the flood (1 s before the flood,
	# then half of it), when the flood has had time to fill every table;
	# it runs from there to a second after the flood
	if [ "${FL_LEGIT_LATE:-0}" = 1 ]; then
		late=$((1 + FL_SECONDS / 2))
		lsecs=$((FL_SECONDS + 2 - late))
		nsenter --net=/run/netns/"$FL_LEG" chrt -f "$FL_LEGIT_PRIO" timeout $((FL_SECONDS + 30)) sh -c \
			'sleep "$1"; shift; exec "$@"' sh "$late" "$FL_LEGIT" -d "$dst" -s "$src" -o "$out.lat" \
			-t "$lsecs" -i "$FL_LEGIT_INTERVAL_MS" >"$out.legit" 2>&1 &
	else
		nsenter --net=/run/netns/"$FL_LEG" chrt -f "$FL_LEGIT_PRIO" timeout $((FL_SECONDS + 30)) "$FL_LEGIT" -d "$dst" -o "$out.lat" \
			-t $((FL_SECONDS + 2)) -i "$FL_LEGIT_INTERVAL_MS" >"$out.legit" 2>&1 &
	fi
	lpid=$!
	FL_PIDS="$FL_PIDS $lpid"
	# Keep the receiver's vCPU out of halt: in this VM (haltpoll, no guest
	# polling) waking a halted vCPU takes long enough for the 256-frame veth
	# ring to overflow while the NAPI thread is still idle.  A SCHED_IDLE
	# spinner yields to every other task and is not part of the measure.
	if [ "${FL_SPIN:-1}" = 1 ]; then
		timeout $((FL_SECONDS + 5)) chrt -i 0 taskset -c "$FL_RX_CPU" sh -c 'while :; do :; done' &
		spid=$!
		FL_PIDS="$FL_PIDS $spid"
	fi
	sleep 1
	r0=$(fl_runtime_ns $napi)
	tx0=$(fl_link_stat "$FL_GEN" "$FL_IFG" tx_packets)
	in0=$(fl_tcp_insegs)
	fl_ns "$FL_GEN" nice -n "$FL_NICE" timeout $((FL_SECONDS + 10)) taskset -c "$FL_GEN_CPU" "$FL_SYNFLOOD" \
		-i "$FL_IFG" --dst-mac "$FL_DST_MAC" -d "$dst" -p 25 \
		-c "$FL_MAX_PACKETS" -t "$FL_SECONDS" "$@" >"$out.flood" 2>&1
	r1=$(fl_runtime_ns $napi)
	tx1=$(fl_link_stat "$FL_GEN" "$FL_IFG" tx_packets)
	in1=$(fl_tcp_insegs)
	wait "$lpid"
	[ -n "$spid" ] && { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }
	awk -v label="$label" -v r="$((r1 - r0))" -v tx="$((tx1 - tx0))" \
		-v sent="$(fl_kv "$out.flood" sent)" -v secs="$(fl_kv "$out.flood" seconds)" \
		-v ok="$(fl_kv "$out.legit" ok)" -v att="$(fl_kv "$out.legit" attempts)" -v rt="$(fl_kv "$out.flood" retries)" \
		-v tin="$((in1 - in0))" \
		-v med="$(fl_kv "$out.legit" connect_ms_median)" -v p99="$(fl_kv "$out.legit" connect_ms_p99)" \
		'BEGIN {
			if (secs <= 0 || tx <= 0) { print label, "FAILED measurement"; exit }
			printf "%s %.0f %.0f %.0f %d/%d %.2f %.2f %.1f %.3f %d %d\n", label, sent / secs, tx / secs,
				r / tx, ok, att, med, p99, 100 * r / (secs * 1e9), secs, rt, tin
		}' >>"$FL_DIR/results"
	tail -n 1 "$FL_DIR/results"
}

# refused SYNs (all reasons) from `mxlimit status --json`; empty without mxlimit
fl_refused() {
	python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    sys.exit(0)
def walk(o, acc):
    if isinstance(o, dict):
        for k, v in o.items():
            if k.startswith("refused_") and isinstance(v, int):
                acc[k] = acc.get(k, 0) + v
            else:
                walk(v, acc)
    elif isinstance(o, list):
        for v in o:
            walk(v, acc)
acc = {}
walk(d.get("counters", d), acc)
print(sum(acc.values()))' 2>/dev/null
}
