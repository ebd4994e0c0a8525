#!/bin/bash
# mxlimit daemon over real TCP in a namespace lab: the verdict socket
# (replies, malformed and overlong lines, allowlist, peer credentials, a
# slow peer), penalties and blocks enforced by the kernel and expiring,
# SIGKILL (enforcement continues) and restart (pinned state picked up),
# SIGHUP reload, the metrics endpoint, and the state file across
# `unload --all` + `load`.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lab.sh"
need_root "daemon lab"

# The socket lives in a directory of our own that other users may enter
# (the lab dir is 0700), so the credential checks below are the daemon's.
DMN_DIR=$(mktemp -d /tmp/mxdmn-XXXXXX)
chmod 755 "$DMN_DIR"
on_exit "rm -rf '$DMN_DIR'"
SOCK=$DMN_DIR/verdict.sock
STATE=$DMN_DIR/state.gz
DLOG=$DMN_DIR/daemon.log
: >"$DLOG"
MPORT=9433 # inside the server namespace: no clash with the host

# vcl [--pipe] < lines: send each stdin line to the verdict socket and print
# each reply line ("EOF" when the daemon closed).  Without --pipe, one line
# at a time; with it, everything in one write, then the replies.  Inline,
# and run with the system python, so it works as another user too.
VCL_PY='
import socket, sys
path = sys.argv[1]
pipe = "--pipe" in sys.argv[2:]
data = sys.stdin.buffer.read()
lines = data.split(b"\n")
if lines and lines[-1] == b"":
    lines.pop()
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
try:
    s.connect(path)
except OSError as e:
    print("CONNECT-FAILED", e.strerror); sys.exit(0)
f = s.makefile("rb")
def rd():
    try:
        l = f.readline()
    except OSError:
        l = b""
    print(l.decode(errors="replace").rstrip("\n") if l else "EOF", flush=True)
    return l
def send(b):
    try:
        s.sendall(b)
    except OSError:
        pass
if pipe:
    send(data)
    for _ in lines:
        if not rd(): break
else:
    for l in lines:
        send(l + b"\n")
        if not rd(): break
'
vcl() { /usr/bin/python3 -c "$VCL_PY" "$SOCK" "$@"; }
# v LINE: one request, its reply
v() { printf '%s\n' "$1" | vcl; }

DMN_PID=
dmn_start() { # extra daemon options
	local n i
	n=$(grep -c 'daemon ready' "$DLOG")
	nsenter --net=/run/netns/$LAB_SRV "$MXLIMIT" --pin-dir "$LAB_PIN" daemon --socket "$SOCK" \
		--state "$STATE" --metrics 127.0.0.1:$MPORT -v "$@" >>"$DLOG" 2>&1 &
	DMN_PID=$!
	on_exit "kill $DMN_PID 2>/dev/null"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c 'daemon ready' "$DLOG")" -gt "$n" ] && return 0
		kill -0 "$DMN_PID" 2>/dev/null || break
		sleep 0.05
	done
	tail -5 "$DLOG" >&2
	return 1
}

scrape() {
	nsenter --net=/run/netns/$LAB_SRV /usr/bin/python3 -c '
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen("http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2]), timeout=5)
    print(r.status); print(r.headers["Content-Type"]); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code)' "$MPORT" "${1:-/metrics}"
}
# metric NAME{labels}: its value in a scrape
metric() { scrape | awk -v k="$1" '$1 == k { print $2 }'; }
gt0() { [ -n "$1" ] && [ "$1" -gt 0 ] 2>/dev/null; }
starts() { case $1 in "$2"*) return 0 ;; esac; echo "    got: $1" >&2; return 1; }
# has TEXT REGEX: some line of TEXT matches
has() { grep -Eq -- "$2" <<<"$1" && return 0; echo "    got: $(head -c 300 <<<"$1")" >&2; return 1; }
metric_is() { [ "$(metric "$1")" = "$2" ]; }

lab_setup || { fail "lab setup"; exit 1; }
lab_server 25 || { fail "lab server"; exit 1; }
lab_client_start
lab_client_addr 198.18.0.3 # allowlisted
lab_client_addr 198.18.0.4
C=$LAB_CLI4
pol=$(lab_policy daemon.ini <<'P'
[main]
ports = 25
[concurrency]
enabled = true
max = 10
198.18.0.3 = 0
P
)

# --- before load: the daemon needs the maps
"$MXLIMIT" --pin-dir /sys/fs/bpf/mxlimit-test-none-$TEST_ID daemon --socket "$SOCK" \
	--state "$STATE" 2>"$DMN_DIR/err"; rc=$?
check_eq "daemon without a loaded mxlimit exits 1" "$rc" 1
check "and says so" grep -q "not loaded" "$DMN_DIR/err"
"$MXLIMIT" daemon --metrics nonsense 2>/dev/null; rc=$?
check_eq "daemon with a bad option value exits 2" "$rc" 2
check "daemon --help documents the options" bash -c "'$MXLIMIT' daemon --help | grep -q -- '--metrics ADDR:PORT'"

# --- doctor: this kernel has what mxlimit needs; an interface is looked at,
# never attached to
check "doctor: exit 0 on this kernel" bash -c "$(declare -f lab_mx); LAB_SRV=$LAB_SRV MXLIMIT=$MXLIMIT LAB_PIN=$LAB_PIN lab_mx doctor >/dev/null"
check "doctor -i: the lab's veth runs XDP natively" has "$(lab_mx doctor -i "$LAB_IF_SRV")" "ok +xdp:$LAB_IF_SRV +driver veth"
check "doctor -i: nothing was attached" bash -c "! ip -n $LAB_SRV -d link show $LAB_IF_SRV | grep -q prog/xdp"
lab_mx doctor -i nosuch$TEST_ID >"$DMN_DIR/out" 2>&1; rc=$?
check_eq "doctor -i of a missing interface exits 1" "$rc" 1
check "and says so in plain words" grep -q "FAIL .*no interface nosuch$TEST_ID" "$DMN_DIR/out"
check "doctor --json" bash -c "'$MXLIMIT' doctor --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"ok\"] and d[\"checks\"]'"

lab_load_or_die "load" -i "$LAB_IF_SRV" -c "$pol" --state "$STATE"
check "daemon starts" dmn_start
check_eq "socket mode 0660" "$(stat -c %a "$SOCK")" 660
check "state file written at start (it was missing)" [ -s "$STATE" ]
nsenter --net=/run/netns/$LAB_SRV "$MXLIMIT" --pin-dir "$LAB_PIN" daemon --socket "$SOCK" \
	--state "$STATE" 2>"$DMN_DIR/err"; rc=$?
check_eq "a second daemon on the same socket exits 1" "$rc" 1
check "and names the lock" grep -q "another mxlimit daemon" "$DMN_DIR/err"
check "the first one still answers" starts "$(v "QUERY $C")" "OK $C block=0 penalty=0 allowlisted=no"

# --- the protocol
check "unknown verb -> ERR" starts "$(v 'HELLO 1.2.3.4')" "ERR unknown verb"
check "missing seconds -> ERR" starts "$(v "PENALIZE $C")" "ERR missing seconds"
check "bad prefix -> ERR" starts "$(v 'BLOCK 198.18.0.7/24 60')" "ERR bad prefix"
check "bad option -> ERR" starts "$(v "PENALIZE $C 60 colour=red")" "ERR unknown option"
out=$( { printf 'QUERY %s\n' "$C"; head -c 600 /dev/zero | tr '\0' X; printf '\nHELLO\nQUERY %s\r\n' "$C"; } | vcl)
check_eq "one connection: OK, overlong, unknown, OK (CRLF)" "$(echo "$out" | cut -d' ' -f1-3 | tr '\n' '|')" \
	"OK $C block=0|ERR line too|ERR unknown verb|OK $C block=0|"
out=$( { head -c 100000 /dev/zero | tr '\0' Y; printf '\nQUERY %s\n' "$C"; } | vcl --pipe)
check_eq "100 kB line: one ERR, then resync at the newline" "$(echo "$out" | cut -d' ' -f1-2 | tr '\n' '|')" \
	"ERR line|OK $C|"
out=$(for i in $(seq 50); do echo "QUERY 198.18.0.$i"; done | vcl --pipe)
check_eq "50 pipelined requests: 50 replies in order" \
	"$(echo "$out" | awk '{print $2}' | tr '\n' ' ')" "$(seq -f '198.18.0.%g' 1 50 | tr '\n' ' ')"
check "exactly 512 bytes is accepted" starts "$(printf 'QUERY %-506s' "$C" | vcl)" "OK $C"
check "513 bytes is refused" starts "$(printf 'QUERY %-507s' "$C" | vcl)" "ERR line too long"

# --- allowlisted sources are never sanctioned by a verdict
check "PENALIZE of an allowlisted address -> ERR allowlisted" starts "$(v 'PENALIZE 198.18.0.3 60')" "ERR allowlisted"
check "BLOCK of a prefix holding one -> ERR allowlisted" starts "$(v 'BLOCK 198.18.0.0/24 60')" "ERR allowlisted"
check "QUERY says allowlisted=yes" starts "$(v 'QUERY 198.18.0.3')" "OK 198.18.0.3 block=0 penalty=0 allowlisted=yes"
check "UNBLOCK of nothing is OK" starts "$(v 'UNBLOCK 198.18.0.0/24')" "OK not-blocked 198.18.0.0/24"

# --- penalties and blocks, enforced by the kernel
check_eq "before: admitted" "$(lab_open p0 $C)" ok
lab_closeall
check "PENALIZE 4 s" starts "$(v "PENALIZE $C 4 reason=errors")" "OK penalized $C 4 reason=errors"
check_eq "penalized source: SYN refused (drop)" "$(lab_open p1 $C 25 "" 1.5)" timeout
check_eq "the allowlisted neighbour is admitted" "$(lab_open p2 198.18.0.3)" ok
check_eq "another source is admitted" "$(lab_open p3 198.18.0.4)" ok
check "QUERY shows the penalty" has "$(v "QUERY $C")" 'penalty=[1-4] limit=tier reason=errors'

sleep 3
check_eq "after 4 s the penalty has expired: admitted" "$(lab_open p4 $C)" ok
check "and housekeeping removed it from the map" wait_for 50 bash -c "! nsenter --net=/run/netns/$LAB_SRV '$MXLIMIT' --pin-dir '$LAB_PIN' blocks | grep -q '$C '"
lab_closeall

check "PENALIZE limit=1" starts "$(v "PENALIZE $C 60 limit=1")" "OK penalized $C 60 limit=1"
check_eq "limit=1: first connection admitted" "$(lab_open q1 $C)" ok
check_eq "limit=1: second refused" "$(lab_open q2 $C 25 "" 1.5)" timeout
check "UNBLOCK lifts the penalty" starts "$(v "UNBLOCK $C")" "OK unblocked $C"
check_eq "admitted again" "$(lab_open q3 $C)" ok
lab_closeall

check "BLOCK 60 s" starts "$(v "BLOCK $C 60 reason=test")" "OK blocked $C 60 reason=test"
check "blocks lists it" bash -c "nsenter --net=/run/netns/$LAB_SRV '$MXLIMIT' --pin-dir '$LAB_PIN' blocks | grep -Eq '^$C +block .*test'"
check_eq "blocked source refused" "$(lab_open b1 $C 25 "" 1.5)" timeout

# --- SIGKILL: enforcement continues; restart: the pinned state is there
kill -KILL "$DMN_PID"; wait "$DMN_PID" 2>/dev/null
check_eq "daemon killed: the block still holds" "$(lab_open b2 $C 25 "" 1.5)" timeout
check_eq "and others are still admitted" "$(lab_open b3 198.18.0.4)" ok
check "restart over the stale socket" dmn_start
check "the restarted daemon sees the block" has "$(v "QUERY $C")" 'block=[0-9]+ .*reason=test'

check "UNBLOCK through the new daemon" starts "$(v "UNBLOCK $C")" "OK unblocked $C"
check_eq "admitted after unblock" "$(lab_open b4 $C)" ok
lab_closeall

# --- one slow peer does not hold up the others
slow=$(/usr/bin/python3 -c '
import socket, sys, time
path, addr = sys.argv[1], sys.argv[2]
def conn():
    s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(path); return s
a = conn(); a.sendall(b"QUERY 198.18")          # stuck mid-line
b = conn(); b.setblocking(False)                 # floods, never reads
sent = 0
try:
    while sent < 4000000:
        sent += b.send(b"QUERY %s\n" % addr.encode() * 64)
except BlockingIOError:
    pass
c = conn()
t = time.time(); c.sendall(b"QUERY %s\n" % addr.encode()); r = c.makefile("rb").readline()
print("%.2f %s" % (time.time() - t, r.decode().split(" ")[0]))' "$SOCK" "$C")
check "a peer stuck mid-line and one not reading replies do not delay a third" \
	awk -v s="$slow" 'BEGIN { split(s, f, " "); exit !(f[2] == "OK" && f[1] < 1.0) }'
check "the daemon is still alive" kill -0 "$DMN_PID"

# --- peer credentials (SO_PEERCRED), even with the file mode loosened
chmod 666 "$SOCK"
check_eq "nobody is refused by the peer check" \
	"$(printf 'QUERY %s\n' "$C" | setpriv --reuid 65534 --regid 65534 --clear-groups /usr/bin/python3 -c "$VCL_PY" "$SOCK")" \
	"ERR permission denied"
kill -TERM "$DMN_PID"; wait "$DMN_PID"; rc=$?
check_eq "SIGTERM: clean exit 0" "$rc" 0
check "SIGTERM: the socket file is removed" [ ! -e "$SOCK" ]
check "SIGTERM: enforcement stays (XDP attached)" bash -c "ip -n $LAB_SRV -d link show $LAB_IF_SRV | grep -q prog/xdp"
check "daemon with --group nogroup" dmn_start --group nogroup
check_eq "socket group is nogroup" "$(stat -c %G "$SOCK")" nogroup
check "a member of the group (primary) is served" starts \
	"$(printf 'QUERY %s\n' "$C" | setpriv --reuid 65534 --regid 65534 --clear-groups /usr/bin/python3 -c "$VCL_PY" "$SOCK")" "OK $C"
check "a member of the group (supplementary) is served" starts \
	"$(printf 'QUERY %s\n' "$C" | setpriv --reuid 65534 --regid 4242 --groups 65534 /usr/bin/python3 -c "$VCL_PY" "$SOCK")" "OK $C"
check "a non-member is refused by the file mode" starts \
	"$(printf 'QUERY %s\n' "$C" | setpriv --reuid 65534 --regid 4242 --clear-groups /usr/bin/python3 -c "$VCL_PY" "$SOCK")" "CONNECT-FAILED"

# --- metrics
lab_open m1 $C >/dev/null
v "PENALIZE 198.18.0.4 30" >/dev/null
lab_open m2 198.18.0.4 25 "" 1 >/dev/null
page=$(scrape)
check_eq "metrics: HTTP 200" "$(echo "$page" | sed -n 1p)" 200
check "metrics: Prometheus text format 0.0.4" has "$(echo "$page" | sed -n 2p)" 'version=0\.0\.4'
check "metrics: HELP from the stats list" has "$page" '^# HELP mxlimit_refused_penalty_total SYNs refused: source penalized$'
check "metrics: TYPE counter" has "$page" '^# TYPE mxlimit_admitted_total counter$'
check "metrics: per-interface label" has "$page" "^mxlimit_syn_total\\{iface=\"$LAB_IF_SRV\"\\} [0-9]+$"
check "metrics: admitted on the interface > 0" gt0 "$(metric "mxlimit_admitted_total{iface=\"$LAB_IF_SRV\"}")"
check "metrics: refused_penalty on the interface > 0" gt0 "$(metric "mxlimit_refused_penalty_total{iface=\"$LAB_IF_SRV\"}")"
check "metrics: refused_block on the interface > 0" gt0 "$(metric "mxlimit_refused_block_total{iface=\"$LAB_IF_SRV\"}")"
check "metrics: connections opened, socket row > 0" gt0 "$(metric 'mxlimit_conn_open_total{iface="(socket)"}')"
check "metrics: 1 active connection" wait_for 30 metric_is mxlimit_active_connections 1
check_eq "metrics: 1 penalty" "$(metric mxlimit_penalties)" 1
check_eq "metrics: 1 interface" "$(metric mxlimit_interfaces)" 1
check "metrics: policy generation" gt0 "$(metric mxlimit_policy_generation)"
check_eq "metrics: loaded" "$(metric mxlimit_loaded)" 1
missing=$(for f in $(sed -n 's/^\tX(\([a-z_]*\),.*/\1/p' "$ROOT/include/mx_stats.h"); do
	grep -q "^# TYPE mxlimit_${f}_total counter$" <<<"$page" || echo "$f"; done)
check_eq "metrics: every field of mx_stats.h is exported" "$missing" ""
check_eq "metrics: 404 elsewhere" "$(scrape /nope | sed -n 1p)" 404
# a client that connects and says nothing holds a slot only until its own
# timer (10 s) closes it; scrapes are served meanwhile
out=$(nsenter --net=/run/netns/$LAB_SRV /usr/bin/python3 -c '
import socket, sys, time, urllib.request
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
ok = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).status
t = time.monotonic()
try:
    closed = s.recv(1) == b""
except socket.timeout:
    closed = False
except OSError:
    closed = True  # reset by the daemon
print(ok, closed, time.monotonic() - t < 25)' "$MPORT")
check_eq "metrics: a silent client is closed by its timer; scrapes go on meanwhile" \
	"$out" "200 True True"
lab_closeall
v "UNBLOCK 198.18.0.4" >/dev/null

# --- SIGHUP: re-apply the policy file `load` remembered
sed -i 's/^max = 10/max = 1/' "$pol"
kill -HUP "$DMN_PID"
check "SIGHUP applied the policy" wait_for 30 grep -q "policy $pol applied" "$DLOG"
check_eq "new limit: first admitted" "$(lab_open h1 $C)" ok
check_eq "new limit: second refused" "$(lab_open h2 $C 25 "" 1.5)" timeout
echo "[concurrency]
max = oops" >"$pol"
kill -HUP "$DMN_PID"
check "SIGHUP with a broken file: not applied" wait_for 30 grep -q "not applied; the policy in force is unchanged" "$DLOG"
check_eq "the old limit still holds" "$(lab_open h3 $C 25 "" 1.5)" timeout
check "the daemon is still alive" kill -0 "$DMN_PID"
lab_closeall
printf '[main]\nports = 25\n[concurrency]\nenabled = true\nmax = 10\n198.18.0.3 = 0\n' >"$pol"

# --- the state file across unload --all + load
check "BLOCK 10 min" starts "$(v 'BLOCK 198.18.0.9 600 reason=persist')" "OK blocked"
check "PENALIZE forever-ish with a limit" starts "$(v 'PENALIZE 198.18.0.64/26 3000 limit=2 reason=rcpt')" "OK penalized"
# saved after the verdict's batch; a loaded machine may take a moment
check "snapshot written within a few seconds" wait_for 60 bash -c "zcat '$STATE' | grep -q '^block 198.18.0.9 [0-9]* - persist'"
check "the penalty is in it with its limit" wait_for 60 bash -c "zcat '$STATE' | grep -q '^penalty 198.18.0.64/26 [0-9]* 2 rcpt'"
check "unload --all" lab_mx unload --all
check "the daemon notices" wait_for 60 grep -q "mxlimit was unloaded" "$DLOG"
check "verdicts wait for load" starts "$(v "QUERY $C")" "ERR mxlimit is not loaded"
check_eq "metrics say not loaded" "$(metric mxlimit_loaded)" 0
check "state file kept while unloaded" bash -c "zcat '$STATE' | grep -q persist"
check "load restores from the state file" lab_mx load -i "$LAB_IF_SRV" -c "$pol" --state "$STATE"
check "blocks lists the restored block" bash -c "nsenter --net=/run/netns/$LAB_SRV '$MXLIMIT' --pin-dir '$LAB_PIN' blocks | grep -Eq '^198.18.0.9 +block .*persist'"
check "and the restored penalty" bash -c "nsenter --net=/run/netns/$LAB_SRV '$MXLIMIT' --pin-dir '$LAB_PIN' blocks | grep -Eq '^198.18.0.64/26 +penalty .*rcpt +2'"
check "the daemon follows the new maps" has "$(v 'QUERY 198.18.0.9')" 'block=(5[0-9][0-9]|600) .*persist'

# --- out of descriptors: the verdict socket pauses accepting (no busy
# loop on a level-triggered listener), then serves again.  The daemon's
# limit is lowered to what it has open + 4, 30 clients connect and hold.
nfd=$(ls /proc/$DMN_PID/fd | wc -l)
check "lower the daemon's descriptor limit to $((nfd + 4))" prlimit --pid "$DMN_PID" --nofile=$((nfd + 4)):$((nfd + 4))
n0=$(grep -c 'accept: Too many open files' "$DLOG")
/usr/bin/python3 - "$SOCK" >"$LAB_DIR/emfile.out" 2>&1 <<'PY' &
import socket, sys, time
held = []
for i in range(30):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    s.connect(sys.argv[1]) # the backlog takes them; the daemon accepts what it can
    held.append(s)
print("held", len(held), flush=True)
time.sleep(3)
PY
HOLD=$!
check "the daemon says it is out of descriptors and pauses" \
	wait_for 50 grep -q 'accept: Too many open files; pausing' "$DLOG"
sleep 2
nwarn=$(( $(grep -c 'accept: Too many open files' "$DLOG") - n0 ))
# paused 100 ms each time: ~20 warnings in 2 s; a listener that is not
# paused wakes (and warns) thousands of times
check "no busy loop while out of descriptors ($nwarn warnings in ~2 s)" [ "$nwarn" -le 60 ]
wait "$HOLD"
check "the holding client connected 30 times" grep -qx 'held 30' "$LAB_DIR/emfile.out"
prlimit --pid "$DMN_PID" --nofile=1024:1024
served() { starts "$(v "QUERY $C")" "OK $C "; }
check "served again once descriptors are free" wait_for 50 served
check "the daemon is alive" kill -0 "$DMN_PID"

kill -TERM "$DMN_PID"; wait "$DMN_PID"; rc=$?
check_eq "clean exit at the end" "$rc" 0
exit 0
