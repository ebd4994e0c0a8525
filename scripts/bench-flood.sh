#!/bin/bash
# bench-flood.sh - the flood lab (issue 5), in one run:
#   1. one IPv4 SYN flood (1,000 spoofed sources over 198.19.0.0/16) against
#      one policy (10 concurrent connections and 1,200 new per minute per
#      /24) enforced by nothing, iptables connlimit + hashlimit, nftables
#      ct count + meters, mxlimit generic XDP and mxlimit native XDP, while a
#      legitimate client opens SMTP sessions to smtp-sink through the same
#      receive path;
#   2. scale: IPv6 floods from 1k, 100k and 1M distinct /64s against mxlimit
#      with maps sized for 1M sources: map memory and cost per packet;
#   3. address-rotating floods (a fresh /32 per SYN from one /16, a fresh /64
#      per SYN from one /48) against a per-/32 (/64) policy: mxlimit without
#      and with the wide level (/24, /48), nftables meters, iptables hashlimit.
# Every scenario gets a fresh lab (scripts/flood-lib.sh: namespaces, veths,
# attribution of CPU time), a flood of FLOOD_SECONDS (default 10) flat out,
# bounded in packets too.  Prints the tables and, unless FLOOD_DOC=0, writes
# them with the commands to reproduce into the "Flood lab" section of
# docs/BENCHMARKS.md.
#   BUILD=build scripts/bench-flood.sh     (FLOOD_SECONDS, FLOOD_DOC, FLOOD_ONLY=main|scale|rotate)
set -u
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
FLOOD_DOC=${FLOOD_DOC:-1}
FLOOD_ONLY=${FLOOD_ONLY:-}
DOC=docs/BENCHMARKS.md

[ "$(id -u)" = 0 ] || { echo "bench-flood: run as root (it creates network namespaces)" >&2; exit 1; }
for b in mxlimit tools/synflood tools/legit bpf/bare.bpf.o; do
	[ -e "$BUILD/$b" ] || { echo "bench-flood: $BUILD/$b not built (make BUILD=$BUILD all $BUILD/tools/synflood $BUILD/tools/legit)" >&2; exit 1; }
done
for t in clang smtp-sink iptables-restore ip6tables-restore nft ethtool nsenter taskset bpftool; do
	command -v "$t" >/dev/null || { echo "bench-flood: $t missing (make deps)" >&2; exit 1; }
done

# shellcheck source=flood-lib.sh
. "$ROOT/scripts/flood-lib.sh"
RUN_DIR=$FL_DIR
FL_KEEP_DIR=1 # per-scenario cleanups keep the results
trap 'stats_off; fl_cleanup; [ -n "${FLOOD_KEEP:-}" ] && echo "bench-flood: kept $RUN_DIR" || rm -rf "$RUN_DIR"' EXIT
trap 'exit 130' INT TERM
CFG=$RUN_DIR/cfg
mkdir -p "$CFG"

# ---- policies -----------------------------------------------------------
# mx_ini NAME V4PLEN V6PLEN [WIDE4 WIDE6] [extra [main] lines]
mx_ini() {
	local name=$1 p4=$2 p6=$3 w4=${4:-0} w6=${5:-0} extra=${6:-}
	{
		echo "[main]"
		echo "ports = 25"
		echo "action = drop"
		echo "ipv4_prefix = $p4"
		echo "ipv6_prefix = $p6"
		if [ "$w4" != 0 ]; then
			echo "ipv4_wide_prefix = $w4"
			echo "ipv6_wide_prefix = $w6"
		fi
		[ -n "$extra" ] && printf '%b\n' "$extra"
		echo "[concurrency]"
		echo "enabled = true"
		echo "max = 10"
		[ "$w4" != 0 ] && echo "wide = 50"
		echo "[rate_conn]"
		echo "enabled = true"
		echo "default = 1200/1m"
		[ "$w4" != 0 ] && echo "wide = 3000/1m"
	} >"$CFG/$name.ini"
	echo "$CFG/$name.ini"
}

# ipt_rules NAME FAMILY(4|6) MASK: connlimit first (a refused SYN spends no
# rate budget, as in mxlimit), then hashlimit; default table sizes
ipt_rules() {
	local f=$CFG/$1.ipt
	[ "$2" = 6 ] && f=$CFG/$1.v6
	cat >"$f" <<EOF
*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp --syn --dport 25 -m connlimit --connlimit-above 10 --connlimit-mask $3 -j DROP
-A INPUT -p tcp --syn --dport 25 -m hashlimit --hashlimit-above 1200/minute --hashlimit-burst 1200 --hashlimit-mode srcip --hashlimit-srcmask $3 --hashlimit-name mxfl -j DROP
COMMIT
EOF
	echo "$f"
}

# nft_rules NAME MASK4 MASK6 (masks as nft values): ct count in a dynamic
# set, the rate in a meter; 65535 elements each (nft's default meter size)
nft_rules() {
	cat >"$CFG/$1.nft" <<EOF
table inet mxfl {
	set conc4 { type ipv4_addr; size 65535; flags dynamic; }
	set conc6 { type ipv6_addr; size 65535; flags dynamic; }
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 25 tcp flags & (fin | syn | rst | ack) == syn jump smtp_syn
	}
	chain smtp_syn {
		ct state new add @conc4 { ip saddr and $2 ct count over 10 } counter drop
		meter rate4 size 65535 { ip saddr and $2 timeout 60s limit rate over 1200/minute burst 1200 packets } counter drop
		ct state new add @conc6 { ip6 saddr and $3 ct count over 10 } counter drop
		meter rate6 size 65535 { ip6 saddr and $3 timeout 60s limit rate over 1200/minute burst 1200 packets } counter drop
	}
}
EOF
	echo "$CFG/$1.nft"
}

# The floor: an XDP program that drops every frame, no limiter logic.  It
# shows what the veth path itself costs (on veth, native XDP gets an skb the
# sender built and copies it into a page before the program runs).
xdp_drop_obj() {
	printf '%s\n' 'struct xdp_md;' \
		'__attribute__((section("xdp"), used)) int xdp_drop_all(struct xdp_md *ctx) { return 1; /* XDP_DROP */ }' \
		'char _license[] __attribute__((section("license"), used)) = "GPL";' |
		clang -O2 -g -target bpf -c -x c - -o "$CFG/xdp_drop.o" || return 1
	echo "$CFG/xdp_drop.o"
}

# The skb floor: a tc ingress program drops every frame (skb built, after
# GRO, before IP and netfilter).
tc_drop_obj() {
	printf '%s\n' 'struct __sk_buff;' \
		'__attribute__((section("tc"), used)) int tc_drop_all(struct __sk_buff *skb) { return 2; /* TC_ACT_SHOT */ }' \
		'char _license[] __attribute__((section("license"), used)) = "GPL";' |
		clang -O2 -g -target bpf -c -x c - -o "$CFG/tc_drop.o" || return 1
	echo "$CFG/tc_drop.o"
}

# packets the limiter refused, whatever it is
limiter_drops() {
	case $FL_LIMITER in
	mxlimit-*) fl_mx status --json 2>/dev/null | fl_refused ;;
	tc-drop) fl_ns "$FL_SRV" tc -s qdisc show dev "$FL_IFS" |
		sed -n 's/.*(dropped \([0-9]*\),.*/\1/p' | awk '{s += $1} END {print s + 0}' ;;
	xdp-drop) ip netns exec "$FL_SRV" ethtool -S "$FL_IFS" 2>/dev/null |
		awk -F: '$1 ~ /rx_queue_[0-9]+_xdp_drops/ {s += $2} END {print s + 0}' ;;
	iptables) { fl_ns "$FL_SRV" iptables -nvxL INPUT; fl_ns "$FL_SRV" ip6tables -nvxL INPUT; } |
		awk '$3 == "DROP" {s += $1} END {print s + 0}' ;;
	nftables) fl_ns "$FL_SRV" nft list table inet mxfl |
		awk '{for (i = 1; i < NF; i++) if ($i == "packets") s += $(i + 1)} END {print s + 0}' ;;
	*) echo 0 ;;
	esac
}

# mxlimit's own cost per packet: the XDP program's run time over its runs,
# from the kernel's BPF statistics, switched on (BPF_ENABLE_STATS: a file
# descriptor held by a helper process) only while an mxlimit row runs,
# since they cost every BPF program on the machine two clock reads a run.
STATS_PID=""
stats_on() {
	python3 -c '
import ctypes, signal, sys, time
libc = ctypes.CDLL(None, use_errno=True)
attr = ctypes.create_string_buffer(16)  # bpf_attr.enable_stats.type = BPF_STATS_RUN_TIME (0)
if libc.syscall(321, 32, attr, 16) < 0:  # __NR_bpf (x86_64), BPF_ENABLE_STATS
    sys.exit(1)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
time.sleep(600)' &
	STATS_PID=$!
	sleep 0.2
}
stats_off() { [ -n "$STATS_PID" ] && kill "$STATS_PID" 2>/dev/null && wait "$STATS_PID" 2>/dev/null; STATS_PID=""; }
prog_stats() { # "run_time_ns run_cnt" of the lab's mxlimit XDP program(s)
	local id t=0 c=0 a b
	for id in $(fl_mx status --json 2>/dev/null | python3 -c 'import json,sys; print(" ".join(str(i["prog_id"]) for i in json.load(sys.stdin)["interfaces"]))'); do
		read -r a b < <(bpftool prog show id "$id" --json | python3 -c 'import json,sys; d = json.load(sys.stdin); print(d.get("run_time_ns", 0), d.get("run_cnt", 0))')
		t=$((t + a)) c=$((c + b))
	done
	echo "$t $c"
}

# bytes of kernel memory (memlock) of the mxlimit maps pinned in the lab
map_bytes() {
	local m total=0 b
	for m in "$FL_PIN"/mx_*; do
		b=$(bpftool map show pinned "$m" 2>/dev/null | sed -n 's/.*memlock \([0-9]*\)B.*/\1/p')
		total=$((total + ${b:-0}))
	done
	echo "$total"
}

# scenario TABLE LABEL ROUND FAMILY LIMITER CFG SYNFLOOD-ARGS...
# A fresh lab, the limiter, one measurement of FL_SECONDS.  Appends to
# $RUN_DIR/rows: table label round sent absorbed ns/pkt ok/att median p99
# busy% seconds retries drops map-bytes; the legitimate client's sessions
# are in $RUN_DIR/TABLE-LABEL-rROUND.lat.
scenario() {
	local table=$1 label=$2 round=$3 fam=$4 lim=$5 cfg=$6 d0 d1 line mem=- tag p0 p1 prog=-
	shift 6
	tag=$table-$label-r$round
	FL_PIDS=""
	FL_LIMITER=none
	if ! fl_setup || ! fl_limiter "$lim" "$cfg"; then
		echo "$table $label $round FAILED setup" | tee -a "$RUN_DIR/rows"
		fl_cleanup
		return 1
	fi
	d0=$(limiter_drops)
	case $lim in mxlimit-*) stats_on; p0=$(prog_stats) ;; esac
	: >"$FL_DIR/results"
	fl_measure "$tag" "$fam" "$@" >/dev/null
	d1=$(limiter_drops)
	case $lim in mxlimit-*)
		mem=$(map_bytes)
		p1=$(prog_stats)
		stats_off
		# shellcheck disable=SC2086
		prog=$(echo $p0 $p1 | awk '$4 > $2 {printf "%.0f", ($3 - $1) / ($4 - $2); exit} {print "-"}') ;;
	esac
	line=$(tail -n 1 "$FL_DIR/results")
	line="$table $label $round ${line#* } $((d1 - d0)) $mem $prog"
	echo "$line" >>"$RUN_DIR/rows"
	case $lim in mxlimit-*) fl_mx status --json >"$RUN_DIR/$tag.status" 2>/dev/null ;; esac
	fl_cleanup
	show_row "$line"
}

show_row() {
	echo "$1" | awk '{
		if ($4 == "FAILED") { printf "  %-6s %-16s %s\n", $1, $2, $0; next }
		printf "  %-6s %-16s r%d sent %4.0fk pps (full %d)  %5d ns/pkt  busy %5.1f%%  dropped %5.1f%%  legit %s  med %.2f ms p99 %.2f ms\n",
			$1, $2, $3, $4 / 1000, $12, $6, $10, ($5 > 0 ? 100 * $13 / ($5 * $11) : 0), $7, $8, $9
	}'
}

# rounds TABLE FAMILY ROUNDS "LABEL LIMITER CFG" ... -- SYNFLOOD-ARGS...
# Runs every limiter once per round, rounds interleaved, so that a slow
# moment of this shared machine hits all limiters alike.
rounds() {
	local table=$1 fam=$2 n=$3 r spec specs=() label lim cfg
	shift 3
	while [ "$1" != -- ]; do specs+=("$1"); shift; done
	shift
	for ((r = 1; r <= n; r++)); do
		for spec in "${specs[@]}"; do
			read -r label lim cfg <<<"$spec"
			scenario "$table" "$label" "$r" "$fam" "$lim" "$cfg" "$@"
		done
	done
}

V4_FLOOD=(-s 198.19.0.0/16 -n 1000 --order random)
MAIN_INI=$(mx_ini main 24 64)
# The first two tables: ROUNDS interleaved rounds of FL_SECONDS/ROUNDS
# each (the median round is shown); rotating floods: one flood of
# FL_SECONDS, since what they show (tables filling) needs the whole time.
ROUNDS=${FLOOD_ROUNDS:-3}
TOTAL_SECONDS=$FL_SECONDS
ROUND_SECONDS=$(( (FL_SECONDS + ROUNDS - 1) / ROUNDS ))
echo "== flood lab: generator on CPU $FL_GEN_CPU, receiver NAPI thread on CPU $FL_RX_CPU (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
START=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

if [ -z "$FLOOD_ONLY" ] || [ "$FLOOD_ONLY" = main ]; then
	echo "-- same flood, same policy (10 concurrent, 1200/min per /24), IPv4, 1,000 sources; $ROUNDS rounds of ${ROUND_SECONDS}s"
	FL_SECONDS=$ROUND_SECONDS
	rounds main 4 "$ROUNDS" "none none -" \
		"iptables iptables $(ipt_rules main 4 24)" \
		"nftables nftables $(nft_rules main 255.255.255.0 ffff:ffff:ffff:ffff::)" \
		"mxlimit-generic mxlimit-generic $MAIN_INI" \
		"mxlimit-native mxlimit-native $MAIN_INI" \
		"xdp-drop-floor xdp-drop $(xdp_drop_obj)" \
		"skb-drop-floor tc-drop $(tc_drop_obj)" -- "${V4_FLOOD[@]}"
fi

if [ -z "$FLOOD_ONLY" ] || [ "$FLOOD_ONLY" = scale ]; then
	echo "-- scale: IPv6, distinct /64 sources over fd00:66::/32, mxlimit native, maps for 1M sources; $ROUNDS rounds of ${ROUND_SECONDS}s"
	FL_SECONDS=$ROUND_SECONDS
	SCALE_INI=$(mx_ini scale 24 64 0 0 "max_pending = 1048576\nmax_rate_sources = 1048576")
	# the source count is part of the flood, not of the limiter
	for ((r = 1; r <= ROUNDS; r++)); do
		for n in 1000 100000 1000000; do
			scenario scale "sources-$n" "$r" 6 mxlimit-native "$SCALE_INI" \
				-s fd00:66::/32 --source-len 64 -n "$n" --order random
		done
	done
fi

if [ -z "$FLOOD_ONLY" ] || [ "$FLOOD_ONLY" = rotate ]; then
	echo "-- rotating: a fresh /32 per SYN from one /16 (IPv4), a fresh /64 per SYN from one /48 (IPv6); policy per /32, /64; ${TOTAL_SECONDS}s"
	FL_SECONDS=$TOTAL_SECONDS
	ROT=$(mx_ini rot 32 64)
	ROTW=$(mx_ini rotwide 32 64 24 48)
	rounds rot4 4 1 "iptables iptables $(ipt_rules rot4 4 32)" \
		"nftables nftables $(nft_rules rot 255.255.255.255 ffff:ffff:ffff:ffff::)" \
		"mxlimit-own mxlimit-native $ROT" \
		"mxlimit-wide mxlimit-native $ROTW" -- -s 198.19.0.0/16 --source-len 32 --fresh
	rounds rot6 6 1 "ip6tables iptables $(ipt_rules rot6 6 64)" \
		"nftables nftables $CFG/rot.nft" \
		"mxlimit-own mxlimit-native $ROT" \
		"mxlimit-wide mxlimit-native $ROTW" -- -s fd00:66:1::/48 --source-len 64 --fresh
fi
FL_SECONDS=$TOTAL_SECONDS
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - START))

# ---- report ---------------------------------------------------------------
report() {
	python3 - "$RUN_DIR" <<'PY'
import os, statistics, sys
run = sys.argv[1]
rows, order = {}, []
for line in open(os.path.join(run, "rows")):
    f = line.split()
    key = (f[0], f[1])
    if key not in rows:
        rows[key] = []
        order.append(key)
    rows[key].append(f)

def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    i = max(1, min(len(v), int(p * len(v) + 0.999999)))
    return v[i - 1]

def summary(key):
    rs = [r for r in rows[key] if r[3] != "FAILED"]
    if not rs:
        return None
    rs.sort(key=lambda r: float(r[5]))
    m = rs[len(rs) // 2]  # the median round by ns/pkt
    ok = att = 0
    lat = []
    for r in rs:
        path = os.path.join(run, "%s-%s-r%s.lat" % (key[0], key[1], r[2]))
        for l in open(path) if os.path.exists(path) else []:
            what, ms = l.split()
            att += 1
            ok += what == "ok"
            if float(ms) >= 0:
                lat.append(float(ms))
    secs = sum(float(r[10]) for r in rs)
    absorbed = sum(float(r[4]) * float(r[10]) for r in rs)
    drops = sum(int(r[12]) for r in rs)
    return {
        "sent": float(m[3]), "abs": float(m[4]), "ns": float(m[5]), "busy": float(m[9]),
        "ns_range": "%d–%d" % (float(rs[0][5]), float(rs[-1][5])) if len(rs) > 1 else "",
        "drop": 100.0 * drops / absorbed if absorbed else 0.0,
        "ok": ok, "att": att, "med": pct(lat, 0.5), "p99": pct(lat, 0.99),
        "mem": m[13], "rounds": len(rs),
        "prog": statistics.median([float(r[14]) for r in rs if len(r) > 14 and r[14] != "-"] or [float("nan")]),
    }

def legit(s):
    if not s["att"]:
        return "–"
    return "%.1f %% (%d/%d)" % (100.0 * s["ok"] / s["att"], s["ok"], s["att"])

def k(x):
    return "%.0f k" % (x / 1000)

tables = []
for key in order:
    if key[0] not in tables:
        tables.append(key[0])
ipt = summary(("main", "iptables"))
skb = summary(("main", "skb-drop-floor"))

def own(name, s):
    """The limiter's own ns per packet: mxlimit's XDP program run time
    (BPF statistics); a netfilter limiter's receiver ns/pkt above the skb
    floor (tc ingress dropping the same packets before IP)."""
    if name.startswith("mxlimit") and s["prog"] == s["prog"]:
        return s["prog"]
    if name in ("iptables", "nftables") and skb:
        return s["ns"] - skb["ns"]
    return None

ipt_own = own("iptables", ipt) if ipt else None
out = []
titles = {
    "main": "| limiter | flood sent pps | receiver ns/pkt (rounds) | vs iptables | limiter's own ns/pkt | own vs iptables | receiver CPU busy | dropped by limiter | legit success | connect median ms | connect p99 ms |",
    "scale": "| distinct /64 sources | flood sent pps | receiver ns/pkt (rounds) | mxlimit program ns/pkt | receiver CPU busy | dropped by mxlimit | mxlimit maps (memlock) | legit success | connect median ms | connect p99 ms |",
    "rot4": "| IPv4: fresh /32 per SYN from one /16, policy per /32 | flood sent pps | receiver ns/pkt | receiver CPU busy | dropped by limiter | legit success | connect median ms | connect p99 ms |",
    "rot6": "| IPv6: fresh /64 per SYN from one /48, policy per /64 | flood sent pps | receiver ns/pkt | receiver CPU busy | dropped by limiter | legit success | connect median ms | connect p99 ms |",
}
for t in tables:
    if out:
        out.append("")
    out.append(titles[t])
    out.append("|" + "---|" * (titles[t].count("|") - 1))
    for key in [x for x in order if x[0] == t]:
        s = summary(key)
        name = key[1]
        if s is None:
            out.append("| %s | failed |" % name)
            continue
        ns = "%d" % s["ns"] + (" (%s)" % s["ns_range"] if s["ns_range"] else "")
        lat = "%.2f | %.2f" % (s["med"], s["p99"]) if s["att"] and s["ok"] else "– | –"
        if t == "main":
            ratio = "%.2f" % (s["ns"] / ipt["ns"]) if ipt else "–"
            o = own(name, s)
            os_ = "%d" % o if o is not None else "–"
            oratio = "%.2f" % (o / ipt_own) if o is not None and ipt_own else "–"
            if name.endswith("-floor"):
                lat, lg = "– | –", "– (drops all)"
            else:
                lg = legit(s)
            out.append("| %s | %s | %s | %s | %s | %s | %.0f %% | %.1f %% | %s | %s |" % (name, k(s["sent"]), ns, ratio, os_, oratio, s["busy"], s["drop"], lg, lat))
        elif t == "scale":
            mem = "%.1f MiB" % (int(s["mem"]) / 1048576) if s["mem"] not in ("-", "") else "–"
            prog = "%d" % s["prog"] if s["prog"] == s["prog"] else "–"
            out.append("| %s | %s | %s | %s | %.0f %% | %.1f %% | %s | %s | %s |" % (name.replace("sources-", ""), k(s["sent"]), ns, prog, s["busy"], s["drop"], mem, legit(s), lat))
        else:
            out.append("| %s | %s | %s | %.0f %% | %.1f %% | %s | %s |" % (name, k(s["sent"]), ns, s["busy"], s["drop"], legit(s), lat))
print("\n".join(out))
# machine-readable figures for the notes
with open(os.path.join(run, "figures"), "w") as fh:
    for key in order:
        s = summary(key)
        if s:
            o = own(key[1], s) if key[0] == "main" else None
            fh.write("%s %s %.0f %.2f %.2f %d %d %.1f %s\n" % (key[0], key[1], s["ns"], s["med"], s["p99"], s["ok"], s["att"], s["drop"], "%.0f" % o if o is not None else "-"))
PY
}

echo
echo "== flood lab results (${ELAPSED}s in all)"
report | tee "$RUN_DIR/table.md"
grep -q FAILED "$RUN_DIR/rows" && rc=1 || rc=0

# ---- docs/BENCHMARKS.md, "Flood lab" section --------------------------------
write_doc() {
	local sec=$RUN_DIR/section.md kernel
	kernel=$(uname -r)
	{
		echo "## Flood lab"
		echo
		echo "\`scripts/bench-flood.sh\` (run by \`make bench\`), one run of $(date -u +%Y-%m-%d), kernel $kernel,"
		echo "$(nproc) vCPUs shared with other jobs (load average $LOAD0 at the start, $LOAD1 at the end),"
		echo "${FL_SECONDS} s of flood per row, ${ELAPSED} s in all. Reproduce (as root):"
		echo
		echo '```sh'
		echo "make deps && make BUILD=$BUILD all $BUILD/tools/synflood $BUILD/tools/legit"
		echo "BUILD=$BUILD FLOOD_SECONDS=$FL_SECONDS scripts/bench-flood.sh   # FLOOD_ONLY=main|scale|rotate, FLOOD_DOC=0"
		echo '```'
		echo
		echo "Lab (\`scripts/flood-lib.sh\`): three namespaces. \`synflood\` (tests/tools/synflood.c: AF_PACKET,"
		echo "\`sendmmsg\` of crafted Ethernet/IP/TCP SYNs with correct checksums) runs flat out on CPU $FL_GEN_CPU in"
		echo "the generator namespace, which also routes the legitimate client's namespace to the"
		echo "server: the legitimate SYNs share the server veth's receive ring and NAPI thread with"
		echo "the flood, as they would share a NIC queue. \`legit\` (tests/tools/legit.c) opens one SMTP"
		echo "session (connect, 220, QUIT, 221, 3 s timeout) every ${FL_LEGIT_INTERVAL_MS} ms to \`smtp-sink\` from a"
		echo "second before the flood to a second after it; a dropped SYN shows as a ≥ 1 s connect."
		echo "Replies to spoofed sources go to a blackhole route in the server namespace."
		echo
		echo "*Receiver CPU*: the server's flood-facing veth runs threaded NAPI (GRO on, the sender's"
		echo "TSO off, so every limiter takes the same NAPI path), its thread pinned to CPU $FL_RX_CPU. All of the"
		echo "server's work on a flood packet — XDP (native or generic), skb, GRO, IP, netfilter and"
		echo "conntrack, TCP's SYN handling (SYN cookies), the SYN-ACK up to routing — runs in that"
		echo "thread, softirqs included (no \`IRQ_TIME_ACCOUNTING\` in this kernel: softirq time run in"
		echo "a task is charged to the task). *receiver ns/pkt* = the thread's \`sum_exec_runtime\`"
		echo "delta (/proc/PID/schedstat) / packets that entered its ring (the generator veth's"
		echo "\`tx_packets\` delta = *absorbed*; a frame the full ring refused is retried by the"
		echo "generator and is not counted). *receiver CPU busy* = that time / the flood's duration."
		echo "Per-task accounting keeps the other jobs on this machine out of the figure; they do"
		echo "move the absolute rates. The lab's processes and the NAPI thread run at nice $FL_NICE."
		echo "On veth, native and generic XDP both get an skb from the sender, so read the rows as"
		echo "ratios, not NIC speeds."
		echo
		echo "Policy of the first table, the same for every limiter: 10 concurrent connections and"
		echo "1,200 new connections a minute per /24 (mxlimit: \`ipv4_prefix = 24\`, \`[concurrency] max = 10\`,"
		echo "\`[rate_conn] default = 1200/1m\`; iptables: \`connlimit --connlimit-above 10 --connlimit-mask 24\`"
		echo "then \`hashlimit --hashlimit-above 1200/minute --hashlimit-burst 1200 --hashlimit-srcmask 24\`;"
		echo "nftables: \`add @conc4 { ip saddr and 255.255.255.0 ct count over 10 }\` then"
		echo "\`meter rate4 size 65535 { ip saddr and 255.255.255.0 limit rate over 1200/minute burst 1200 packets }\`)."
		echo "Flood: 1,000 spoofed sources spread over 198.19.0.0/16 (all 256 /24s), random order."
		echo "*dropped by limiter* is the limiter's own drop counter over the absorbed packets."
		echo
		cat "$RUN_DIR/table.md"
		echo
		doc_notes
	} >"$sec"
	python3 - "$DOC" "$sec" <<'PY'
import re, sys
doc, sec = sys.argv[1], open(sys.argv[2]).read().rstrip("\n") + "\n"
try:
    text = open(doc).read()
except FileNotFoundError:
    text = "# Benchmarks\n"
m = re.search(r"^## Flood lab\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
if m:
    text = text[:m.start()] + sec + ("\n" if m.end() < len(text) else "") + text[m.end():]
else:
    text = text.rstrip("\n") + "\n\n" + sec
open(doc, "w").write(text)
PY
	echo "bench-flood: results written to $DOC (Flood lab)"
}

# The reading of the tables; written from the run's own figures where a
# figure is quoted.
doc_notes() {
	awk '
	{ ns[$1, $2] = $3; p99[$1, $2] = $5; ok[$1, $2] = $6; att[$1, $2] = $7; drop[$1, $2] = $8 }
	END {
		i = ns["main", "iptables"]
		if (i > 0 && ns["main", "mxlimit-native"] > 0)
			printf "**Target: mxlimit CPU per dropped packet ≤ 1/3 of iptables'"'"'.** Measured: native %.2f, generic %.2f of iptables'"'"' (nftables %.2f; the XDP_DROP floor %.2f).\n", ns["main", "mxlimit-native"] / i, ns["main", "mxlimit-generic"] / i, ns["main", "nftables"] / i, ns["main", "xdp-drop-floor"] / i
		printf "**Target: legitimate client 100 %% with p99 connect < 50 ms.** Measured under mxlimit native: %d/%d sessions, p99 %.2f ms.\n", ok["main", "mxlimit-native"], att["main", "mxlimit-native"], p99["main", "mxlimit-native"]
	}' "$RUN_DIR/figures"
	[ -f "$ROOT/scripts/flood-notes.md" ] && { echo; cat "$ROOT/scripts/flood-notes.md"; }
}

if [ "$FLOOD_DOC" = 1 ] && [ -z "$FLOOD_ONLY" ]; then
	write_doc
fi
exit $rc
