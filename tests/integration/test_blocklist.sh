#!/bin/bash
# Blocklists (issue 14, point 4): `mxlimit blocklist load|list|remove` in a
# namespace lab with real TCP connects: listed IPv4/IPv6 sources refused,
# others and allowlisted ones admitted; a replace; FILE:LINE errors with
# nothing applied; the sets through reload, daemon restarts, unload,
# unload --all + load (restored from the set directory), and while
# mxlimit is not loaded; status, metrics; 100,000 prefixes loaded and
# spot-checked (the time is printed, not asserted).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lab.sh"
need_root "blocklist lab"

# every mxlimit of this test (lab_mx included) uses the lab's set directory
export MXLIMIT_BLOCKLIST_DIR=$LAB_DIR/blocklists
BLD=$MXLIMIT_BLOCKLIST_DIR
SOCK=$LAB_DIR/verdict.sock
STATE=$LAB_DIR/state.gz
DLOG=$LAB_DIR/daemon.log
MPORT=$((20000 + RANDOM % 20000))
: >"$DLOG"

# --- no lab needed: help, usage errors
check "blocklist --help" bash -c "'$MXLIMIT' blocklist --help | grep -q '^Usage: mxlimit blocklist load NAME FILE'"
"$MXLIMIT" --pin-dir "$LAB_PIN" blocklist load 'bad/name' /dev/null 2>"$LAB_DIR/err"; rc=$?
check_eq "a name with '/' is a usage error (exit 2)" "$rc" 2
check "and says which characters a name takes" grep -q "bad set name" "$LAB_DIR/err"
"$MXLIMIT" --pin-dir "$LAB_PIN" blocklist frob 2>/dev/null; rc=$?
check_eq "an unknown blocklist command exits 2" "$rc" 2
"$MXLIMIT" --pin-dir "$LAB_PIN" blocklist load drop 2>/dev/null; rc=$?
check_eq "load without FILE exits 2" "$rc" 2

lab_setup || { fail "lab setup"; exit 1; }
lab_server 25 || { fail "lab server"; exit 1; }
lab_client_start
for a in 198.18.5.5 198.19.7.7 198.18.9.9 fd00:18::77 fd00:18::99; do lab_client_addr $a; done
pol=$(lab_policy bl.ini <<'P'
[main]
ports = 25
[concurrency]
enabled = true
max = 10
; allowlisted: exempt from blocklists
198.18.9.9 = 0
P
)
# pins of an older version (mx_stats grew by refused_blocklist): a
# counter-only map is re-created with a warning; another map with another
# layout stops the load with what to do
mkdir -p "$LAB_PIN"
bpftool map create "$LAB_PIN/mx_stats" type percpu_array key 4 value 200 entries 64 name mx_stats
bpftool map create "$LAB_PIN/mx_bl_sets" type array key 4 value 8 entries 64 name mx_bl_sets
lab_mx load -i "$LAB_IF_SRV" -c "$pol" 2>"$LAB_DIR/err"; rc=$?
check_eq "load over an old pin of another layout fails (exit 1)" "$rc" 1
check "and says to unload --all" grep -q "mx_bl_sets was pinned by another mxlimit version with another layout; \`mxlimit unload --all\`" "$LAB_DIR/err"
rm -f "$LAB_PIN/mx_bl_sets"
if ! lab_mx load -i "$LAB_IF_SRV" -c "$pol" 2>"$LAB_DIR/err"; then
	# as lab_load_or_die: nothing else can run without a load
	echo "not ok - lab: mxlimit load failed: $(grep -v warning "$LAB_DIR/err" | head -n 3 | tr '\n' ' ')"
	exit 1
fi
ok "load over an old mx_stats"
check "the old mx_stats was re-created, with a warning" grep -q "mx_stats was pinned by another mxlimit version (value size 200, now [0-9]*): re-created" "$LAB_DIR/err"
# refused NAME SRC: a SYN that goes unanswered (the action is drop)
refused() { [ "$(lab_open "$1" "$2" 25 "" 0.8)" = timeout ]; }
admitted() { [ "$(lab_open "$1" "$2")" = ok ]; }
bl_json() { lab_mx blocklist list --json | python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

check "no set loaded: a source is admitted" admitted n0 198.18.5.5
lab_closeall

# --- load a Spamhaus DROP-format list
cat >"$LAB_DIR/drop.txt" <<'L'
; Spamhaus DROP List 2026/12/05 - (c) 2026 The Spamhaus Project SLU
; https://www.spamhaus.org/drop/drop.txt
; Last-Modified: Sat, 05 Dec 2026 12:00:00 GMT
; Expires: Sat, 05 Dec 2026 13:00:00 GMT
198.18.5.0/24 ; SBL100001
198.19.0.0/16 ; SBL100002
fd00:18::77/128 ; SBL100003
198.18.9.0/24 ; SBL100004 (holds the allowlisted 198.18.9.9)
L
check "blocklist load drop" lab_mx blocklist load drop "$LAB_DIR/drop.txt"
check "listed IPv4 /24 refused" refused r1 198.18.5.5
check "listed IPv4 /16 refused" refused r2 198.19.7.7
check "listed IPv6 address refused" refused r3 fd00:18::77
check "unlisted IPv4 admitted" admitted a1 $LAB_CLI4
check "unlisted IPv6 admitted" admitted a2 $LAB_CLI6
check "allowlisted source inside a listed /24 admitted" admitted a3 198.18.9.9
lab_closeall
check "list: drop with 4 prefixes, its source file" bash -c "$(declare -f lab_mx); LAB_SRV=$LAB_SRV MXLIMIT=$MXLIMIT LAB_PIN=$LAB_PIN; lab_mx blocklist list | grep -Eq '^drop +4 +[0-9T:Z-]+ +[0-9]+ +$LAB_DIR/drop.txt$'"
check "list --json: refused counts the 3 refused sources" bl_json "b=d['blocklists'][0]; assert b['name']=='drop' and b['prefixes']==4 and b['refused']>=3 and b['loaded_at']>0, b"
check "status: refused_blocklist counter" bash -c "$(declare -f lab_mx); LAB_SRV=$LAB_SRV MXLIMIT=$MXLIMIT LAB_PIN=$LAB_PIN; lab_mx status | grep -Eq '^ +refused_blocklist +[1-9]'"
check "status: the set with its prefixes" bash -c "$(declare -f lab_mx); LAB_SRV=$LAB_SRV MXLIMIT=$MXLIMIT LAB_PIN=$LAB_PIN; lab_mx status | grep -Eq '^  drop +4 prefixes, loaded '"
check "status --json: blocklists and the counter" bash -c "$(declare -f lab_mx); LAB_SRV=$LAB_SRV MXLIMIT=$MXLIMIT LAB_PIN=$LAB_PIN; lab_mx status --json | python3 -c \"import json,sys; d=json.load(sys.stdin); assert d['blocklists'][0]['name']=='drop' and d['blocklists'][0]['prefixes']==4 and d['counters']['refused_blocklist']>=3, d\""
check "saved in the set directory" grep -qx '198.18.5.0/24' "$BLD/drop.list"
q_sets() { lab_mx query "$1" --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(','.join(d['blocklists']), d['allowlisted'])"; }
check_eq "query: a listed address names its set" "$(q_sets 198.19.7.7)" "drop False"
check_eq "query: an unlisted one none" "$(q_sets 198.18.0.2)" " False"
check_eq "query: the allowlisted one is listed, and allowlisted" "$(q_sets 198.18.9.9)" "drop True"
check "query text: the blocklists line" bash -c "$(declare -f lab_mx); LAB_SRV=$LAB_SRV MXLIMIT=$MXLIMIT LAB_PIN=$LAB_PIN; lab_mx query 198.18.9.9 | grep -qx '  blocklists:  drop (allowlisted: not refused)'"

# --- replace: the new list alone applies
printf '%s ; only the lab client now\n' $LAB_CLI4 >"$LAB_DIR/drop2.txt"
check "blocklist load drop again (replace)" lab_mx blocklist load drop "$LAB_DIR/drop2.txt"
check "replaced: the newly listed source refused" refused rp1 $LAB_CLI4
check "replaced: a source only the old list had is admitted" admitted rp2 198.18.5.5
check "replaced: the old IPv6 entry is gone" admitted rp3 fd00:18::77
lab_closeall
check "list: 1 prefix now" bl_json "assert [(b['name'],b['prefixes']) for b in d['blocklists']]==[('drop',1)], d"

# --- a second set beside it
printf 'fd00:18::99\n' >"$LAB_DIR/v6.txt"
check "a second set (edrop)" lab_mx blocklist load edrop "$LAB_DIR/v6.txt"
check "edrop's source refused" refused s2 fd00:18::99
check "drop's source still refused" refused s3 $LAB_CLI4

# --- with CAP_BPF alone (as a unit gives it): the second change reads the
# first set back through its pin, not by id (that needs CAP_SYS_ADMIN)
if command -v setpriv >/dev/null; then
	printf '198.18.77.0/24\n' >"$LAB_DIR/capbpf.txt"
	check "blocklist load with only CAP_BPF" nsenter --net=/run/netns/$LAB_SRV setpriv --bounding-set -all,+bpf \
		"$MXLIMIT" --pin-dir "$LAB_PIN" blocklist load capbpf "$LAB_DIR/capbpf.txt"
	check "and the other sets kept" bl_json "assert sorted((b['name'],b['prefixes']) for b in d['blocklists'])==[('capbpf',1),('drop',1),('edrop',1)], d"
	check "blocklist remove with only CAP_BPF" nsenter --net=/run/netns/$LAB_SRV setpriv --bounding-set -all,+bpf \
		"$MXLIMIT" --pin-dir "$LAB_PIN" blocklist remove capbpf
	check "edrop's source still refused after both" refused s4 fd00:18::99
else
	skip "blocklist load with only CAP_BPF" "setpriv (util-linux) missing"
fi

# --- malformed: FILE:LINE, nothing applied
cat >"$LAB_DIR/bad.txt" <<'L'
198.18.5.0/24 ; fine
198.18.6.0/24 ; fine
198.18.7.1/24 ; host bits set
fd00:18::/129
L
before=$(sha256sum <"$BLD/drop.list")
lab_mx blocklist load drop "$LAB_DIR/bad.txt" 2>"$LAB_DIR/err"; rc=$?
check_eq "a malformed list exits 2" "$rc" 2
check "reported as FILE:LINE (line 3)" grep -q "^mxlimit: $LAB_DIR/bad.txt:3: bad prefix" "$LAB_DIR/err"
check "reported as FILE:LINE (line 4)" grep -q "^mxlimit: $LAB_DIR/bad.txt:4: bad prefix" "$LAB_DIR/err"
check "nothing applied: the good lines' source still admitted" admitted m1 198.18.5.5
check "nothing applied: the old list still refuses" refused m2 $LAB_CLI4
check "nothing applied: list unchanged" bl_json "assert sorted((b['name'],b['prefixes']) for b in d['blocklists'])==[('drop',1),('edrop',1)], d"
check_eq "nothing applied: the saved set unchanged" "$(sha256sum <"$BLD/drop.list")" "$before"
: >"$LAB_DIR/empty.txt"
lab_mx blocklist load drop "$LAB_DIR/empty.txt" 2>"$LAB_DIR/err"; rc=$?
check_eq "an empty list is refused (exit 2), the set kept" "$rc:$(bl_json "print(len(d['blocklists']))")" "2:2"
lab_mx blocklist load drop "$LAB_DIR/nonexistent.txt" 2>/dev/null; rc=$?
check_eq "a missing file exits 2" "$rc" 2
lab_closeall

# --- survives reload, daemon restarts, unload
check "reload" lab_mx reload -c "$pol"
check "after reload: still refused" refused rl1 $LAB_CLI4
dmn_start() {
	local n i
	n=$(grep -c 'daemon ready' "$DLOG")
	nsenter --net=/run/netns/$LAB_SRV "$MXLIMIT" --pin-dir "$LAB_PIN" daemon --socket "$SOCK" \
		--state "$STATE" --metrics 127.0.0.1:$MPORT -v >>"$DLOG" 2>&1 &
	DMN_PID=$!
	on_exit "kill $DMN_PID 2>/dev/null"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c 'daemon ready' "$DLOG")" -gt "$n" ] && return 0
		kill -0 "$DMN_PID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}
dmn_stop() { kill "$DMN_PID"; for _ in $(seq 50); do kill -0 "$DMN_PID" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
scrape() {
	nsenter --net=/run/netns/$LAB_SRV /usr/bin/python3 -c '
import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode())' "$MPORT"
}
check "daemon starts" dmn_start
check "metrics: mxlimit_blocklist_prefixes{set=\"drop\"} 1" bash -c "$(declare -f scrape); MPORT=$MPORT LAB_SRV=$LAB_SRV; scrape | grep -x 'mxlimit_blocklist_prefixes{set=\"drop\"} 1' >/dev/null"
check "metrics: mxlimit_blocklist_refused_total{set=\"edrop\"} >= 1" bash -c "$(declare -f scrape); MPORT=$MPORT LAB_SRV=$LAB_SRV; scrape | grep -E '^mxlimit_blocklist_refused_total\{set=\"edrop\"\} [1-9]' >/dev/null"
check "metrics: refused_blocklist counter" bash -c "$(declare -f scrape); MPORT=$MPORT LAB_SRV=$LAB_SRV; scrape | grep -E '^mxlimit_refused_blocklist_total\{iface=\"$LAB_IF_SRV\"\} [1-9]' >/dev/null"
check "daemon stops" dmn_stop
check "daemon starts again" dmn_start
check "after a daemon restart: still refused" refused dr1 $LAB_CLI4
check "after a daemon restart: both sets listed" bl_json "assert len(d['blocklists'])==2, d"
dmn_stop
loaded_at=$(bl_json "print([b['loaded_at'] for b in d['blocklists'] if b['name']=='drop'][0])")
check "unload (interfaces only)" lab_mx unload
check "load again" lab_mx load -i "$LAB_IF_SRV" -c "$pol"
check "after unload + load: still refused" refused ul1 $LAB_CLI4
check_eq "after unload + load: the same set (pins kept, not reloaded)" \
	"$(bl_json "print([b['loaded_at'] for b in d['blocklists'] if b['name']=='drop'][0])")" "$loaded_at"
check "unload --all" lab_mx unload --all
check "unload --all leaves no pin (the trie's included)" [ ! -e "$LAB_PIN" ]
check "the saved sets stay on disk" [ -f "$BLD/drop.list" -a -f "$BLD/edrop.list" ]
lab_mx load -i "$LAB_IF_SRV" -c "$pol" 2>"$LAB_DIR/load.err"; rc=$?
check_eq "load after unload --all" "$rc" 0
check "load says it installed the saved sets" grep -q "installed 2 saved blocklists" "$LAB_DIR/load.err"
check "after unload --all + load: refused again (IPv4)" refused ua1 $LAB_CLI4
check "after unload --all + load: refused again (IPv6)" refused ua2 fd00:18::99
check "after unload --all + load: unlisted admitted" admitted ua3 198.18.5.5
check_eq "after unload --all + load: loaded_at kept from the saved set" \
	"$(bl_json "print([b['loaded_at'] for b in d['blocklists'] if b['name']=='drop'][0])")" "$loaded_at"
lab_closeall

# --- while mxlimit is not loaded: only the directory changes
lab_mx unload --all
printf '198.18.5.0/24\n' >"$LAB_DIR/later.txt"
lab_mx blocklist load later "$LAB_DIR/later.txt" 2>"$LAB_DIR/err"; rc=$?
check_eq "blocklist load while not loaded exits 0" "$rc" 0
check "and says the next load installs it" grep -q "next \`mxlimit load\` installs it" "$LAB_DIR/err"
check "list while not loaded shows the saved sets" bl_json "assert not d['loaded'] and sorted(b['name'] for b in d['blocklists'])==['drop','edrop','later'], d"
check "load installs the three" lab_mx load -i "$LAB_IF_SRV" -c "$pol"
check "the set saved while not loaded applies" refused nl1 198.18.5.5
lab_closeall

# --- remove
check "blocklist remove later" lab_mx blocklist remove later
check "removed: its source admitted" admitted rm1 198.18.5.5
check "removed: its saved file is gone" [ ! -e "$BLD/later.list" ]
lab_mx blocklist remove later 2>/dev/null; rc=$?
check_eq "remove of an unknown set exits 1" "$rc" 1
check "remove --missing-ok of an unknown set exits 0" lab_mx blocklist remove later --missing-ok
check "remove drop and edrop" bash -c "$(declare -f lab_mx); LAB_SRV=$LAB_SRV MXLIMIT=$MXLIMIT LAB_PIN=$LAB_PIN; lab_mx blocklist remove drop && lab_mx blocklist remove edrop"
check "nothing listed: every source admitted" admitted rm2 $LAB_CLI4
check "status: blocklists none" bash -c "$(declare -f lab_mx); LAB_SRV=$LAB_SRV MXLIMIT=$MXLIMIT LAB_PIN=$LAB_PIN; lab_mx status | grep -qx 'blocklists: none'"
check "no trie pinned once every set is gone" [ ! -e "$LAB_PIN/mx_bl_trie" ]
lab_closeall

# --- the systemd example: mxlimit-blocklist@.service and .timer
# systemd-analyze verify (template and an instance), the exposure score,
# and the service's ExecStart lines READ FROM THE UNIT, expanded as systemd
# does (%i, $$, ${VAR} from Environment= and the EnvironmentFile the admin
# writes), run in order in the lab under the unit's capability bounding
# set; the first that fails ends the run, as in a oneshot unit.  The fetch
# command is a local copy (no network in tests).
UNITS_DIR=$ROOT/contrib/systemd
SVC=$UNITS_DIR/mxlimit-blocklist@.service
if command -v systemd-analyze >/dev/null && command -v setpriv >/dev/null; then
	V=$LAB_DIR/verify
	mkdir -p "$V/man/man8" "$V/man/man5"
	cp "$ROOT"/docs/*.8 "$V/man/man8/" && cp "$ROOT"/docs/*.5 "$V/man/man5/"
	for u in mxlimit-blocklist@.service mxlimit-blocklist@.timer; do
		sed -e "s#/usr/sbin/mxlimit#$MXLIMIT#g" "$UNITS_DIR/$u" >"$V/$u"
		cp "$V/$u" "$V/${u/@/@drop}"
	done
	out=$(cd "$V" && MANPATH=$V/man systemd-analyze verify ./mxlimit-blocklist@.service \
		./mxlimit-blocklist@.timer ./mxlimit-blocklist@drop.service ./mxlimit-blocklist@drop.timer 2>&1)
	check_eq "systemd-analyze verify mxlimit-blocklist@.service/.timer: clean" "$out" ""
	score=$(cd "$V" && systemd-analyze security --offline=true ./mxlimit-blocklist@drop.service 2>&1 |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	echo "# mxlimit-blocklist@.service exposure: $score"
	check "exposure of mxlimit-blocklist@.service under its ceiling 2.1" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.1) }'
	bnd=$(sed -n 's/^CapabilityBoundingSet=//p' "$SVC" | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
	check_eq "the unit's capability set is CAP_BPF" "$bnd" "+bpf"
	file_env=$(sed -n 's/^Environment=MXLIMIT_BLOCKLIST_FILE=//p' "$SVC")
	check_eq "it downloads into /var/cache/mxlimit" "$file_env" "/var/cache/mxlimit/blocklist-%i.txt"
	# run_unit NAME FETCH: the ExecStart lines for instance NAME, the
	# admin's conf setting MXLIMIT_BLOCKLIST_FETCH=FETCH (and the download
	# moved into the lab); prints the number of lines that ran, rc of the last
	run_unit() {
		local inst=$1 fetch=$2 line n=0 rc=0
		local dl=$LAB_DIR/cache/blocklist-$inst.txt
		mkdir -p "$LAB_DIR/cache"
		while IFS= read -r line; do
			line=${line//%i/$inst}
			line=${line//\$\$/\$}
			line=${line//\/usr\/sbin\/mxlimit/$MXLIMIT}
			n=$((n + 1))
			nsenter --net=/run/netns/$LAB_SRV env MXLIMIT_PIN_DIR="$LAB_PIN" \
				MXLIMIT_BLOCKLIST_FILE="$dl" MXLIMIT_BLOCKLIST_FETCH="$fetch" \
				setpriv --bounding-set "-all,$bnd" --no-new-privs \
				bash -c "eval \"\$0\"" "$line" >>"$LAB_DIR/unit.log" 2>&1
			rc=$?
			[ "$rc" = 0 ] || break
		done < <(sed -n 's/^ExecStart=//p' "$SVC")
		echo "$n $rc"
	}
	printf '198.18.5.0/24 ; SBL1\n' >"$LAB_DIR/upstream.txt"
	check_eq "the unit with a working fetch: both lines run and succeed" \
		"$(run_unit unitset 'cp '"$LAB_DIR"'/upstream.txt "$MXLIMIT_BLOCKLIST_FILE"')" "2 0"
	check "the unit loaded its set" bl_json "assert [(b['name'],b['prefixes']) for b in d['blocklists'] if b['name']=='unitset']==[('unitset',1)], d"
	check "the unit's set refuses" refused u1 198.18.5.5
	r=$(run_unit unitset 'false')
	check "a failing fetch fails the unit before the load" [ "$r" = "1 1" ]
	check "and the set stays" refused u2 198.18.5.5
	r=$(run_unit unitset 'echo "<html>503</html>" >"$MXLIMIT_BLOCKLIST_FILE"')
	check "an error page instead of a list fails the load (exit 2)" [ "$r" = "2 2" ]
	check "and the set stays" refused u3 198.18.5.5
	r=$(run_unit unitset '')
	check "no fetch command configured: the unit fails" [ "$r" = "1 1" ]
	check "it says so" grep -q "no MXLIMIT_BLOCKLIST_FETCH in /etc/mxlimit/blocklist-unitset.conf" "$LAB_DIR/unit.log"
	lab_mx blocklist remove unitset >/dev/null 2>&1
	lab_closeall
	check "debian/ installs the template units" bash -c "grep -q '^contrib/systemd/mxlimit-blocklist@.service ' '$ROOT/debian/mxlimit.install' && grep -q '^contrib/systemd/mxlimit-blocklist@.timer ' '$ROOT/debian/mxlimit.install'"
	check "debian/ ships the example configuration" grep -qx 'contrib/systemd/blocklist-drop.conf' "$ROOT/debian/mxlimit.examples"
else
	skip "mxlimit-blocklist@ units" "systemd-analyze (systemd) or setpriv (util-linux) missing"
fi

# --- 100,000 prefixes: loaded, spot-checked (time printed, not asserted)
awk 'BEGIN { for (i = 0; i < 99999; i++) printf "fd00:1:%x:%x::/64 ; n%d\n", int(i / 65536), i % 65536, i
	print "fd00:18::99 ; the lab client" }' >"$LAB_DIR/big.txt"
t0=$(date +%s.%N)
lab_mx blocklist load big "$LAB_DIR/big.txt" 2>"$LAB_DIR/err"; rc=$?
t1=$(date +%s.%N)
check_eq "100,000 prefixes load" "$rc" 0
echo "# $(cat "$LAB_DIR/err"); wall time $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s"
check "list: 100000 prefixes" bl_json "assert [(b['name'],b['prefixes']) for b in d['blocklists']]==[('big',100000)], d"
check "big: the listed client refused" refused bg1 fd00:18::99
check "big: an unlisted client admitted" admitted bg2 fd00:18::77
check "big: IPv4 untouched" admitted bg3 $LAB_CLI4
lab_closeall
check "big: replace it by a small list" lab_mx blocklist load big "$LAB_DIR/v6.txt"
check "big: the replaced list's client still refused" refused bg4 fd00:18::99
check "big: list shows 1 prefix" bl_json "assert [(b['name'],b['prefixes']) for b in d['blocklists']]==[('big',1)], d"
lab_closeall
exit $T_FAILED
