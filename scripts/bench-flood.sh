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
#   BUILD=build scripts/bench-flood.sh
# Environment: FLOOD_SECONDS (10), FLOOD_ROUNDS (3), FLOOD_ONLY=main|scale|rotate,
# FLOOD_DOC=0 (do not write the doc), FLOOD_DOC_FILE (write there instead),
# FLOOD_KEEP=1 (keep the run's directory).
set -u
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
FLOOD_DOC=${FLOOD_DOC:-1}
FLOOD_ONLY=${FLOOD_ONLY:-}
DOC=${FLOOD_DOC_FILE:-docs/BENCHMARKS.md}

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

# bytes of kernel memory (memlock) of the mxlimit maps pinned in the lab;
# "NAME max_entries bytes" per map into FILE
map_bytes() {
	local m total=0 b e
	: >"$1"
	for m in "$FL_PIN"/mx_*; do
		b=$(bpftool map show pinned "$m" 2>/dev/null | sed -n 's/.*memlock \([0-9]*\)B.*/\1/p')
		e=$(bpftool map show pinned "$m" 2>/dev/null | sed -n 's/.*max_entries \([0-9]*\).*/\1/p')
		echo "${m##*/} ${e:-0} ${b:-0}" >>"$1"
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
	# LABEL-late: the legitimate client is a new source that first
	# appears in the middle of the flood (flood-lib.sh FL_LEGIT_LATE)
	# shellcheck disable=SC2034 # read by fl_measure (flood-lib.sh)
	case $label in *-late) FL_LEGIT_LATE=1 ;; *) FL_LEGIT_LATE=0 ;; esac
	fl_measure "$tag" "$fam" "$@" >/dev/null
	d1=$(limiter_drops)
	case $lim in mxlimit-*)
		mem=$(map_bytes "$RUN_DIR/$tag.maps")
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
			$1, $2, $3, $4 / 1000, $12, $6, $10, ($5 > 0 ? 100 * (1 - $13 / ($5 * $11)) : 0), $7, $8, $9
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
	# one flood of the whole time per count, sources round-robin: at the
	# generator's rate every one of the million appears in it
	echo "-- scale: IPv6, distinct /64 sources over fd00:66::/32, mxlimit native, maps for 1M sources; ${TOTAL_SECONDS}s"
	FL_SECONDS=$TOTAL_SECONDS
	SCALE_INI=$(mx_ini scale 24 64 0 0 "max_pending = 1048576\nmax_rate_sources = 1048576")
	for n in 1000 100000 1000000; do
		# every one of the million must appear: the last row runs until it
		# has sent a SYN from each (one each), or twice the time
		[ "$n" = 1000000 ] && FL_SECONDS=$((TOTAL_SECONDS * 2)) FL_MAX_PACKETS=$n
		scenario scale "sources-$n" 1 6 mxlimit-native "$SCALE_INI" \
			-s fd00:66::/32 --source-len 64 -n "$n" --order seq
	done
	FL_MAX_PACKETS=$((2000000 * TOTAL_SECONDS))
fi

if [ -z "$FLOOD_ONLY" ] || [ "$FLOOD_ONLY" = rotate ]; then
	echo "-- rotating: a fresh /32 per SYN from one /16 (IPv4), a fresh /64 per SYN from one /48 (IPv6); policy per /32, /64; ${TOTAL_SECONDS}s"
	FL_SECONDS=$TOTAL_SECONDS
	ROT=$(mx_ini rot 32 64)
	ROTW=$(mx_ini rotwide 32 64 24 48)
	rounds rot4 4 1 "iptables iptables $(ipt_rules rot4 4 32)" \
		"nftables nftables $(nft_rules rot 255.255.255.255 ffff:ffff:ffff:ffff::)" \
		"mxlimit-own mxlimit-native $ROT" \
		"mxlimit-wide mxlimit-native $ROTW" \
		"mxlimit-own-late mxlimit-native $ROT" \
		"mxlimit-wide-late mxlimit-native $ROTW" -- -s 198.19.0.0/16 --source-len 32 --fresh
	rounds rot6 6 1 "ip6tables iptables $(ipt_rules rot6 6 64)" \
		"nftables nftables $CFG/rot.nft" \
		"mxlimit-own mxlimit-native $ROT" \
		"mxlimit-wide mxlimit-native $ROTW" \
		"mxlimit-own-late mxlimit-native $ROT" \
		"mxlimit-wide-late mxlimit-native $ROTW" -- -s fd00:66:1::/48 --source-len 64 --fresh
fi
FL_SECONDS=$TOTAL_SECONDS
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - START))

# ---- report ---------------------------------------------------------------
report() { # [TABLE...]: only these tables
	python3 - "$RUN_DIR" "$@" <<'PY'
import os, statistics, sys
run = sys.argv[1]
only = sys.argv[2:]
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
    absorbed = sum(float(r[4]) * float(r[10]) for r in rs)
    # dropped before TCP: what entered the rings and never reached TCP
    drops = absorbed - sum(int(r[12]) for r in rs)
    refused = sum(int(r[11]) for r in rs)
    return {
        "sent": float(m[3]), "abs": float(m[4]), "ns": float(m[5]), "busy": float(m[9]),
        "ns_range": "%d–%d" % (float(rs[0][5]), float(rs[-1][5])) if len(rs) > 1 else "",
        "drop": max(0.0, 100.0 * drops / absorbed) if absorbed else 0.0,
        "full": 100.0 * refused / (absorbed + refused) if absorbed + refused else 0.0,
        "ok": ok, "att": att, "med": pct(lat, 0.5), "p99": pct(lat, 0.99),
        "mem": m[14], "rounds": len(rs),
        "prog": statistics.median([float(r[15]) for r in rs if len(r) > 15 and r[15] != "-"] or [float("nan")]),
    }

def legit(s):
    if not s["att"]:
        return "–"
    return "%.1f %% (%d/%d)" % (100.0 * s["ok"] / s["att"], s["ok"], s["att"])

def k(x):
    return "%.0f k" % (x / 1000)

tables = []
for key in order:
    if key[0] not in tables and (not only or key[0] in only):
        tables.append(key[0])
ipt = summary(("main", "iptables")) if ("main", "iptables") in rows else None
skb = summary(("main", "skb-drop-floor")) if ("main", "skb-drop-floor") in rows else None

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
    "main": "| limiter | flood sent pps | refused by full rings | receiver ns/pkt (rounds) | vs iptables | limiter's own ns/pkt | own vs iptables | receiver CPU busy | dropped before TCP | legit success | connect median ms | connect p99 ms |",
    "scale": "| distinct /64 sources | flood sent pps | receiver ns/pkt | mxlimit program ns/pkt | receiver CPU busy | dropped before TCP | mxlimit maps (memlock) | legit success | connect median ms | connect p99 ms |",
    "rot4": "| IPv4: fresh /32 per SYN from one /16, policy per /32 | flood sent pps | refused by full rings | receiver ns/pkt | receiver CPU busy | dropped before TCP | legit success | connect median ms | connect p99 ms |",
    "rot6": "| IPv6: fresh /64 per SYN from one /48, policy per /64 | flood sent pps | refused by full rings | receiver ns/pkt | receiver CPU busy | dropped before TCP | legit success | connect median ms | connect p99 ms |",
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
            out.append("| %s | %s | %.1f %% | %s | %s | %s | %s | %.0f %% | %.1f %% | %s | %s |" % (name, k(s["sent"]), s["full"], ns, ratio, os_, oratio, s["busy"], s["drop"], lg, lat))
        elif t == "scale":
            mem = "%.1f MiB" % (int(s["mem"]) / 1048576) if s["mem"] not in ("-", "") else "–"
            prog = "%d" % s["prog"] if s["prog"] == s["prog"] else "–"
            out.append("| %s | %s | %s | %s | %.0f %% | %.1f %% | %s | %s | %s |" % (name.replace("sources-", ""), k(s["sent"]), ns, prog, s["busy"], s["drop"], mem, legit(s), lat))
        else:
            out.append("| %s | %s | %.1f %% | %s | %.0f %% | %.1f %% | %s | %s |" % (name, k(s["sent"]), s["full"], ns, s["busy"], s["drop"], legit(s), lat))
print("\n".join(out))
# machine-readable figures for the notes (the full report writes them)
if not only:
    with open(os.path.join(run, "figures"), "w") as fh:
        for key in order:
            s = summary(key)
            if s:
                o = own(key[1], s) if key[0] == "main" else None
                fh.write("%s %s %.0f %.2f %.2f %d %d %.1f %s %.0f %.0f %s\n" % (key[0], key[1], s["ns"], s["med"], s["p99"], s["ok"], s["att"], s["drop"], "%.0f" % o if o is not None else "-", s["abs"], s["prog"] if s["prog"] == s["prog"] else -1, s["mem"]))
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
		echo "\`scripts/bench-flood.sh\` (run by \`make bench\`; \`scripts/flood-lib.sh\` is the lab), one run"
		echo "on $(date -u +%Y-%m-%d), kernel $kernel, $(nproc) vCPUs (a Firecracker VM) shared with other jobs: load"
		echo "average $LOAD0 at the start, $LOAD1 at the end; ${ELAPSED} s in all. Reproduce, as root:"
		echo
		echo '```sh'
		echo "make deps && make BUILD=$BUILD all $BUILD/tools/synflood $BUILD/tools/legit"
		echo "BUILD=$BUILD FLOOD_SECONDS=$TOTAL_SECONDS FLOOD_ROUNDS=$ROUNDS scripts/bench-flood.sh"
		echo "# FLOOD_ONLY=main|scale|rotate runs one table; FLOOD_DOC=0 leaves this file alone"
		echo '```'
		echo
		echo "**Lab.** Three namespaces. \`synflood\` (tests/tools/synflood.c: AF_PACKET + \`sendmmsg\` of"
		echo "crafted Ethernet/IPv4/IPv6/TCP SYNs with correct checksums, spoofed sources from a prefix)"
		echo "runs flat out on CPU $FL_GEN_CPU in the generator namespace, which also routes the legitimate"
		echo "client's namespace to the server, so legitimate SYNs share the server's receive queues and"
		echo "NAPI threads with the flood. The server's flood-facing veth has $FL_QUEUES queues (the flood's"
		echo "spoofed flows hash over all of them, as with RSS), threaded NAPI pinned to CPU $FL_RX_CPU at"
		echo "SCHED_FIFO $FL_NAPI_PRIO (like a threaded IRQ handler: a softirq preempts tasks too), GRO on and the"
		echo "sender's TSO off so every limiter takes the same NAPI path. \`legit\` (tests/tools/legit.c, SCHED_FIFO"
		echo "$FL_LEGIT_PRIO so that its own wait for a CPU stays out of the figure) opens one SMTP session to"
		echo "\`smtp-sink\` every ${FL_LEGIT_INTERVAL_MS} ms (connect, 220, QUIT, 221; 3 s timeout) from a second before each"
		echo "flood to a second after it: a dropped SYN shows as a connect of 1 s or more. The server's"
		echo "replies to spoofed sources leave it as on a real network and are dropped in the generator's"
		echo "namespace; the other hops (server → generator, generator ↔ client) run threaded NAPI on CPU $FL_GEN_CPU."
		echo "Nothing outside the lab's namespaces is touched; every flood is bounded in packets and seconds."
		echo
		echo "**Receiver CPU.** Everything the server does with a flood packet — XDP (native or generic),"
		echo "skb, GRO, IP, netfilter and conntrack, TCP's SYN handling (SYN cookies), sending the SYN-ACK"
		echo "— runs in the server veth's NAPI threads, softirqs included (this kernel has no"
		echo "\`IRQ_TIME_ACCOUNTING\`: softirq time run in a task is charged to the task). *receiver ns/pkt*"
		echo "= the threads' \`sum_exec_runtime\` delta (/proc/PID/schedstat) / the frames that entered their"
		echo "rings (the generator veth's \`tx_packets\` delta); *receiver CPU busy* = that time / the flood's"
		echo "duration. Per-task accounting keeps the machine's other jobs out of the figure (they still"
		echo "move the absolute rates, which is why each row of the first two tables is the median of"
		echo "$ROUNDS interleaved rounds of ${ROUND_SECONDS} s, the range in brackets; the rotating floods run ${TOTAL_SECONDS} s each,"
		echo "since what they show — tables filling — takes the whole time). A SCHED_IDLE spinner keeps CPU $FL_RX_CPU"
		echo "from halting during a flood (waking a halted vCPU here took long enough to overflow a ring);"
		echo "it yields to everything and is not counted. *refused by full rings*: frames the server's"
		echo "rings had no room for (the generator counts them; they are not in *absorbed*). Where the"
		echo "receiver is far from busy, these come from the host descheduling this VM's vCPU for"
		echo "milliseconds (${FL_QUEUES} rings hold ${FL_QUEUES} × 256 frames); a legitimate SYN caught in one costs that session a"
		echo "1 s retransmission, which is what most p99 figures above a few ms here are."
		echo
		echo "*limiter's own ns/pkt*: for mxlimit, its XDP program's run time per run from the kernel's BPF"
		echo "statistics (switched on with \`BPF_ENABLE_STATS\` only while an mxlimit row runs; they add two"
		echo "clock reads per run); for iptables and nftables, their receiver ns/pkt minus the *skb floor*"
		echo "(a tc ingress program dropping every frame: skb built, before IP and netfilter). The *XDP"
		echo "floor* is an XDP program dropping every frame. On veth both floors are high and alike: the"
		echo "sender built an skb, and native XDP must even copy it into a page first (\`skb_pp_cow_data\`),"
		echo "which a NIC driver never does — so read veth figures as ratios, not as NIC speeds."
		echo
		echo "**Policy of the first table**, the same for every limiter: 10 concurrent connections and 1,200"
		echo "new connections a minute per /24. mxlimit: \`ipv4_prefix = 24\`, \`[concurrency] max = 10\`,"
		echo "\`[rate_conn] default = 1200/1m\`, action drop. iptables: \`-p tcp --syn --dport 25 -m connlimit"
		echo "--connlimit-above 10 --connlimit-mask 24 -j DROP\`, then \`-m hashlimit --hashlimit-above"
		echo "1200/minute --hashlimit-burst 1200 --hashlimit-mode srcip --hashlimit-srcmask 24 -j DROP\`."
		echo "nftables: \`ct state new add @conc4 { ip saddr and 255.255.255.0 ct count over 10 } drop\`, then"
		echo "\`meter rate4 size 65535 { ip saddr and 255.255.255.0 timeout 60s limit rate over 1200/minute"
		echo "burst 1200 packets } drop\`. Flood: 1,000 spoofed sources spread over 198.19.0.0/16 (all 256"
		echo "/24s), random order. *dropped before TCP*: the frames that entered the rings and never reached"
		echo "the server's TCP (its \`InSegs\` counter), whatever dropped them — the limiter's rule, a full"
		echo "conntrack table, hashlimit's full hash."
		echo
		report main
		echo
		doc_notes main
		echo
		echo "**Scale.** IPv6 floods from 1,000, 100,000 and 1,000,000 distinct /64s spread over"
		echo "fd00:66::/32, round-robin, ${TOTAL_SECONDS} s each (the million: until each has sent one SYN), against"
		echo "mxlimit native with the same limits per /64 and its maps"
		echo "sized for a million sources (\`max_pending = 1048576\`, \`max_rate_sources = 1048576\`, the rest"
		echo "default). Memory is the sum of the pinned maps' \`memlock\` (\`bpftool map show\`); the hash and"
		echo "LRU maps are preallocated, so it does not grow with the sources. *mxlimit program ns/pkt* is the"
		echo "XDP program's own run time (BPF statistics)."
		echo
		report scale
		echo
		doc_notes scale
		echo
		echo "**Address-rotating floods**, ${TOTAL_SECONDS} s each: every SYN from the next /32 of one /16 (IPv4), or"
		echo "from the next /64 of one /48 with a random interface ID (IPv6), against the same limits per"
		echo "/32 and per /64 — a per-source policy that rotation defeats. *mxlimit-own*: that policy"
		echo "alone; *mxlimit-wide*: plus the wide level, \`ipv4_wide_prefix = 24\`, \`ipv6_wide_prefix = 48\`,"
		echo "\`[concurrency] wide = 50\`, \`[rate_conn] wide = 3000/1m\` (each /24 and each /48 together). iptables"
		echo "and nftables: the first table's rules with masks /32 and /64 (hashlimit and meters at their"
		echo "default sizes, conntrack at this kernel's \`nf_conntrack_max\` of $(cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null))."
		echo "*…-late*: the same limiter, but the legitimate client is a source mxlimit has never seen"
		echo "(198.18.1.3, fd00:18:1::3), whose first SYN comes in the middle of the flood (1 + $((TOTAL_SECONDS / 2)) s after"
		echo "the flood's start), when the flood has had time to fill every table; it runs to a second after the flood."
		echo
		report rot4 rot6
		echo
		doc_notes rotate
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
# doc_notes main|scale|rotate: what the run's own figures say against the
# targets (every number quoted comes from this run)
doc_notes() {
	python3 - "$RUN_DIR/figures" "$1" "$TOTAL_SECONDS" "$RUN_DIR" <<'PY'
import os, sys
fig = {}
for l in open(sys.argv[1]):
    f = l.split()
    fig[(f[0], f[1])] = {"ns": float(f[2]), "med": float(f[3]), "p99": float(f[4]), "ok": int(f[5]),
                         "att": int(f[6]), "drop": float(f[7]), "own": None if f[8] == "-" else float(f[8]),
                         "abs": float(f[9]), "prog": float(f[10]), "mem": f[11]}
what, secs = sys.argv[2], float(sys.argv[3])
g = lambda t, n: fig.get((t, n))
def legit(x):
    return "%d/%d sessions, p99 connect %.1f ms" % (x["ok"], x["att"], x["p99"])
def met(b):
    return "**met**" if b else "**not met**"
if what == "main":
    ipt, nat, gen = g("main", "iptables"), g("main", "mxlimit-native"), g("main", "mxlimit-generic")
    if ipt and nat and gen:
        r, rg = nat["ns"] / ipt["ns"], gen["ns"] / ipt["ns"]
        print("- Target *mxlimit CPU per dropped packet ≤ 1/3 of iptables'*: %s on this lab. Whole receive"
              " path per packet: native %.2f, generic %.2f of iptables'." % (met(r <= 1 / 3), r, rg), end="")
        if nat["own"] and ipt["own"]:
            print(" The limiters' own work: mxlimit's program %d ns against iptables' %d ns above the skb"
                  " floor (%.2f)." % (nat["own"], ipt["own"], nat["own"] / ipt["own"]), end="")
        xf, sf = g("main", "xdp-drop-floor"), g("main", "skb-drop-floor")
        if xf and sf:
            print(" Most of every row is veth's own cost: dropping every frame with nothing else to do costs"
                  " %d ns (XDP) and %d ns (tc), %.0f %% and %.0f %% of iptables' figure." % (
                      xf["ns"], sf["ns"], 100 * xf["ns"] / ipt["ns"], 100 * sf["ns"] / ipt["ns"]), end="")
        print()
    if nat:
        ok = nat["ok"] == nat["att"] and nat["p99"] < 50
        print("- Target *legitimate client 100 %% with p99 connect < 50 ms while the generator runs flat out*:"
              " %s under mxlimit native (%s; generic: %s)." % (met(ok), legit(nat), legit(gen) if gen else "–"))
    none = g("main", "none")
    if none:
        print("- With no limiter the same flood costs %d ns a packet (SYN cookies answer every SYN) and the"
              " legitimate client sees %s." % (none["ns"], legit(none)))
elif what == "scale":
    rows = [(n, g("scale", "sources-%d" % n)) for n in (1000, 100000, 1000000)]
    rows = [(n, x) for n, x in rows if x]
    for n, x in rows:
        per = x["abs"] * secs / n
        print("- %s sources: %s; %.1f %% dropped before TCP, mxlimit's program took %s ns a packet,"
              " the receiver %d ns." % (format(n, ","),
              "about %.1f SYNs per source in the %d s flood" % (per, secs) if n < 1000000 else
              "one SYN from each, at %s packets/s" % format(int(x["abs"]), ","),
              x["drop"], "%d" % x["prog"] if x["prog"] >= 0 else "–", x["ns"]))
    maps = os.path.join(sys.argv[4], "scale-sources-1000000-r1.maps")
    main = g("main", "mxlimit-native")
    if os.path.exists(maps):
        big = sorted((int(l.split()[2]), l.split()[0], int(l.split()[1])) for l in open(maps))[::-1][:4]
        print("- Memory for a million sources: %s (default sizes, the first table: %s). The largest maps: %s." % (
            "%.1f MiB" % (sum(int(l.split()[2]) for l in open(maps)) / 1048576),
            "%.1f MiB" % (int(main["mem"]) / 1048576) if main and main["mem"] not in ("-", "") else "–",
            ", ".join("%s %s entries %.1f MiB" % (nm, format(e, ","), b / 1048576) for b, nm, e in big)))
    print("- A per-source limit refuses only what a source sends over it: once each spoofed /64 sends"
          " fewer SYNs than its limit, every SYN is admitted and the kernel answers it (SYN cookies),"
          " whatever the limiter. Against such a spread the wide level (below) or an explicit prefix"
          " rule is the answer; the maps themselves hold a million sources at a fixed, preallocated size.")
elif what == "rotate":
    for t, fam in (("rot4", "IPv4 /32 from one /16"), ("rot6", "IPv6 /64 from one /48")):
        parts = []
        for n in ("iptables", "ip6tables", "nftables", "mxlimit-own", "mxlimit-wide",
                  "mxlimit-own-late", "mxlimit-wide-late"):
            x = g(t, n)
            if x:
                parts.append("%s: %.1f %% dropped before TCP, %d ns/pkt, legit %d/%d (p99 %.1f ms)" % (n, x["drop"], x["ns"], x["ok"], x["att"], x["p99"]))
        if parts:
            print("- %s: %s." % (fam, "; ".join(parts)))
    print("- Per-source state cannot stop a flood whose every SYN comes from a source it has (almost)"
          " never seen: iptables, nftables and mxlimit without the wide level let nearly every SYN through"
          " to TCP, which answers each one (SYN cookies) at several times the cost of a drop. The wide"
          " level counts each /24 (/48) as well and refuses the flood in XDP. The legitimate client,"
          " whose own /24 (/48) is not the flood's, kept its sessions in every row here: no table"
          " filled in a way that refused it.")
    slow = ["%s %s" % (t, n) for (t, n), x in fig.items() if t in ("rot4", "rot6") and x["p99"] > 50]
    if slow:
        print("- p99 above 50 ms (%s): see \"Flood lab: slow legitimate connects\" below. Tails"
              " of 0.05–0.4 s come and go from run to run under every limiter alike (iptables and nftables"
              " rows too), with no SYN retransmitted and no frame refused by a ring: a wait on the"
              " receiving CPU, not a limiter's refusal. One cause is measured: when the receiver CPU"
              " saturates, the kernel's RT throttling stops the lab's SCHED_FIFO NAPI threads for up to"
              " 50 ms a second." % ", ".join(sorted(slow)))
PY
}

# one run fills every row: a partial run writes only to a file of its own
if [ "$FLOOD_DOC" = 1 ] && { [ -z "$FLOOD_ONLY" ] || [ -n "${FLOOD_DOC_FILE:-}" ]; }; then
	write_doc
fi
exit $rc
