#!/bin/bash
# The systemd units of contrib/systemd (issue 14, point 2).  systemd is not
# PID 1 here, so no unit is started; instead:
#   1. `systemd-analyze verify` on each unit (binary paths rewritten to this
#      tree's build/, the man pages of Documentation= from docs/);
#   2. `systemd-analyze security --offline=true`: each unit's exposure score,
#      printed, and held under a ceiling so that an edit cannot weaken a unit
#      silently;
#   3. each unit's ExecStartPre/ExecStart/ExecReload/ExecStop command lines,
#      READ FROM THE UNIT FILE and expanded as systemd does (Environment=,
#      then EnvironmentFile= from a test copy of contrib/systemd/default.mxlimit,
#      $VAR split into words, ${VAR} one word, $MAINPID), run in the namespace
#      lab under the unit's identity and capabilities (setpriv: User= /
#      DynamicUser= as an unused uid, Group=, SupplementaryGroups=,
#      CapabilityBoundingSet=, AmbientCapabilities=, NoNewPrivileges=), and
#      checked to do what the unit says.  The file-system sandbox
#      (ProtectSystem= and friends) is not reproduced: only systemd can.
# Nothing is installed or enabled; the units are read from the tree.
source "$(dirname "$0")/../lib.sh"
UNITS_DIR=${UNITS_DIR:-$ROOT/contrib/systemd} # (another directory: to try an edit)
UNITS=(mxlimit.service mxlimit-daemon.service mxlimit-proxy.service mxlimit-policyd.service)
# Exposure ceilings (0 = locked down, 10 = unprotected).  Measured with
# systemd 252: mxlimit 1.6, daemon 1.7, proxy 1.5, policyd 1.4; the margin
# of 0.2 is less than any one of the settings that matter (no user 0.4, no
# capability bounding set or CAP_SYS_ADMIN 0.3 each, ...).  Raise one only
# with a reason written in the unit.
declare -A CEILING=([mxlimit.service]=1.8 [mxlimit-daemon.service]=1.9
	[mxlimit-proxy.service]=1.7 [mxlimit-policyd.service]=1.6)
PY=/usr/bin/python3

if ! command -v systemd-analyze >/dev/null; then
	echo "1..0 # SKIP systemd-analyze not installed (package systemd)"
	exit 0
fi
need_root "systemd units lab"
for b in "$MXLIMIT" "$MXPROXY" "$MXPOLICYD"; do
	[ -x "$b" ] || { echo "1..0 # SKIP $b not built"; exit 0; }
done
command -v setpriv >/dev/null || { echo "1..0 # SKIP setpriv (util-linux) missing"; exit 0; }
source "$(dirname "$0")/lab.sh"
on_exit "rm -rf '$LAB_DIR'"

# --- 1. systemd-analyze verify ------------------------------------------------
V=$LAB_DIR/verify
mkdir -p "$V/man/man8" "$V/man/man5"
cp "$ROOT"/docs/*.8 "$V/man/man8/" && cp "$ROOT"/docs/*.5 "$V/man/man5/"
for u in "${UNITS[@]}"; do
	if [ ! -f "$UNITS_DIR/$u" ]; then
		fail "$u exists in contrib/systemd"
		continue
	fi
	sed -e "s#/usr/sbin/mxlimit#$ROOT/$BUILD/mxlimit#g" "$UNITS_DIR/$u" >"$V/$u"
	if out=$(cd "$V" && MANPATH=$V/man systemd-analyze verify "./$u" 2>&1) && [ -z "$out" ]; then
		ok "systemd-analyze verify $u: clean"
	else
		fail "systemd-analyze verify $u: $(tr '\n' ' ' <<<"$out")"
	fi
done

# --- 2. systemd-analyze security ----------------------------------------------
for u in "${UNITS[@]}"; do
	[ -f "$V/$u" ] || continue
	out=$(cd "$V" && systemd-analyze security --offline=true "./$u" 2>&1)
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' <<<"$out")
	echo "# $u: ${score:-no score}"
	if [ -n "$score" ] && awk -v s="${score%% *}" -v c="${CEILING[$u]}" 'BEGIN { exit !(s <= c) }'; then
		ok "systemd-analyze security $u: ${score%% *} <= ${CEILING[$u]}"
	else
		fail "systemd-analyze security $u: ${score:-$(tail -n1 <<<"$out")} over ${CEILING[$u]}"
	fi
done

# --- 3. the command lines, in the lab ----------------------------------------
lab_setup || { fail "lab setup"; exit 1; }
lab_client_addr 198.18.0.5
lab_client_start
chmod 755 "$LAB_DIR" # the front ends run as an unprivileged uid
TEST_UID=$((61000 + RANDOM % 900)) # DynamicUser=: an unused uid
TEST_GID=$((64000 + RANDOM % 900)) # group mxlimit (the package creates it)
POSTFIX_GID=$(getent group postfix | cut -d: -f3)
SPOOL=$LAB_DIR/spool # stands for /var/spool/postfix
mkdir -p "$SPOOL"
VSOCK=$LAB_DIR/verdict.sock
PSOCK=$SPOOL/mxlimit/policyd.sock
POL=$LAB_DIR/limit.ini
write_policy() { # MAX: the concurrency limit
	cat >"$POL" <<P
[main]
ports = 25

[concurrency]
enabled = true
max = $1

[proxy]
listen = $LAB_SRV4:587
backend = 127.0.0.1:2526
verdict_socket = $VSOCK

[policyd]
listen = unix:$PSOCK
verdict_socket = $VSOCK
P
	chmod 644 "$POL"
}
write_policy 2
# the default file as shipped, pointed at the lab (the units' only inputs)
sed -e "s#^MXLIMIT_INTERFACES=.*#MXLIMIT_INTERFACES=\"-i $LAB_IF_SRV\"#" \
	-e "s#^MXLIMIT_CONFIG=.*#MXLIMIT_CONFIG=$POL#" \
	-e "s#^MXLIMIT_LOAD_OPTS=.*#MXLIMIT_LOAD_OPTS=\"--state $LAB_DIR/state.gz\"#" \
	-e "s#^MXLIMIT_DAEMON_OPTS=.*#MXLIMIT_DAEMON_OPTS=\"--socket $VSOCK --state $LAB_DIR/state.gz\"#" \
	"$UNITS_DIR/default.mxlimit" >"$LAB_DIR/default"
check "the test's default file keeps every variable of default.mxlimit" \
	[ "$(grep -c '^MXLIMIT_[A-Z_]*=' "$LAB_DIR/default")" = "$(grep -c '^MXLIMIT_[A-Z_]*=' "$UNITS_DIR/default.mxlimit")" ]

# unit_cmds UNIT KEY: the unit's KEY= command lines, one per line, as
# shell-quoted words, expanded as systemd expands them; then the binary and
# path rewrites of the lab.  First word "+" when the line had the "+" prefix.
unit_cmds() {
	MAINPID=${MAINPID:-} $PY - "$UNITS_DIR/$1" "$2" "$LAB_DIR/default" "$ROOT/$BUILD" "$SPOOL" \
		"$TEST_GID" <<'PYEOF'
import os, re, shlex, sys
unit, key, envfile, build, spool, gid = sys.argv[1:7]
env, cmds, section = {}, [], None
def envfile_vars(path):
    out = {}
    for line in open(path):
        line = line.strip()
        if not line or line[0] in '#;' or '=' not in line:
            continue
        k, v = line.split('=', 1)
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in '"\'':
            v = v[1:-1]
        out[k.strip()] = v
    return out
lines = []
for raw in open(unit):
    raw = raw.rstrip('\n')
    if lines and lines[-1].endswith('\\'):
        lines[-1] = lines[-1][:-1] + ' ' + raw.strip()
    else:
        lines.append(raw)
files = []
for line in lines:
    s = line.strip()
    if not s or s[0] in '#;':
        continue
    if s.startswith('['):
        section = s
        continue
    if section != '[Service]' or '=' not in s:
        continue
    k, v = s.split('=', 1)
    if k == 'Environment':
        for w in shlex.split(v):
            a, b = w.split('=', 1)
            env[a] = b
    elif k == 'EnvironmentFile':
        files.append(v)
    elif k == key:
        cmds.append(v)
# EnvironmentFile= overrides Environment=; the lab's copy stands for it
for f in files:
    if f.lstrip('-') == '/etc/default/mxlimit':
        env.update(envfile_vars(envfile))
    else:
        sys.exit('unknown EnvironmentFile %s' % f)
env['MAINPID'] = os.environ.get('MAINPID', '')
for c in cmds:
    plus = False
    while c and c[0] in '-@:+!':
        plus = plus or c[0] == '+'
        c = c[1:]
    out = []
    for w in shlex.split(c):
        m = re.fullmatch(r'\$([A-Za-z_][A-Za-z0-9_]*)', w)
        if m:  # $VAR alone: split into words
            out += env.get(m.group(1), '').split()
            continue
        out.append(re.sub(r'\$\{([A-Za-z_][A-Za-z0-9_]*)\}', lambda m: env.get(m.group(1), ''), w))
    out = [w.replace('/usr/sbin/mxlimit', build + '/mxlimit').replace('/var/spool/postfix', spool)
           for w in out]
    for i in range(1, len(out)):  # the verdict socket's group, as a number here
        if out[i - 1] in ('--group', '-g') and out[i] == 'mxlimit':
            out[i] = gid
    print(' '.join(shlex.quote(w) for w in (['+'] if plus else []) + out))
PYEOF
}

# unit_key UNIT KEY: the value of a [Service] setting (the last one)
unit_key() { sed -n "s/^$2=//p" "$UNITS_DIR/$1" | tail -n1; }

# unit_identity UNIT: setpriv options for the unit's user, groups and
# capabilities (a "+" line runs without them, as systemd does)
unit_identity() {
	local u=$1 user dyn group sup bnd amb nnp caps='' g gids='' id=()
	user=$(unit_key "$u" User); dyn=$(unit_key "$u" DynamicUser)
	group=$(unit_key "$u" Group); sup=$(unit_key "$u" SupplementaryGroups)
	bnd=$(unit_key "$u" CapabilityBoundingSet); amb=$(unit_key "$u" AmbientCapabilities)
	nnp=$(unit_key "$u" NoNewPrivileges)
	gname() { case $1 in mxlimit) echo "$TEST_GID" ;; *) getent group "$1" | cut -d: -f3 ;; esac; }
	for g in $sup; do gids="$gids${gids:+,}$(gname "$g")"; done
	if [ "$dyn" = yes ] || { [ -n "$user" ] && [ "$user" != root ]; }; then
		id+=(--reuid "$TEST_UID" --regid "$(if [ -n "$group" ]; then gname "$group"; else echo "$TEST_UID"; fi)")
		if [ -n "$gids" ]; then id+=(--groups "$gids"); else id+=(--clear-groups); fi
	else
		[ -n "$group" ] && id+=(--regid "$(gname "$group")")
		if [ -n "$gids" ]; then id+=(--groups "$gids"); elif [ -n "$group" ]; then id+=(--clear-groups); fi
	fi
	for g in $bnd; do caps="$caps,+$(tr 'A-Z' 'a-z' <<<"${g#CAP_}")"; done
	id+=(--bounding-set "-all$caps")
	caps=
	for g in $amb; do caps="$caps,+$(tr 'A-Z' 'a-z' <<<"${g#CAP_}")"; done
	[ -n "$caps" ] && id+=(--inh-caps "-all$caps" --ambient-caps "-all$caps")
	[ "$nnp" = yes ] && id+=(--no-new-privs)
	printf '%q ' "${id[@]}"
}

# unit_run UNIT KEY [bg]: run each KEY line in the server netns, with the
# lab's pin dir, as the unit's identity; "bg": the (single) line in the
# background, its pid in BG_PID.  Output appends to $LAB_DIR/UNIT.log.
unit_run() {
	local u=$1 key=$2 bg=${3:-} line cmd rc=0 ident n=0
	ident=$(unit_identity "$u")
	while IFS= read -r line; do
		n=$((n + 1))
		eval "cmd=($line)"
		if [ "${cmd[0]}" = + ]; then
			cmd=("${cmd[@]:1}")
			set -- nsenter --net=/run/netns/$LAB_SRV env MXLIMIT_PIN_DIR="$LAB_PIN" "${cmd[@]}"
		else
			eval "set -- nsenter --net=/run/netns/$LAB_SRV env MXLIMIT_PIN_DIR=$LAB_PIN setpriv $ident \"\${cmd[@]}\""
		fi
		echo "### $key: ${cmd[*]}" >>"$LAB_DIR/$u.log"
		if [ -n "$bg" ]; then
			timeout 120 "$@" >>"$LAB_DIR/$u.log" 2>&1 &
			BG_PID=$!
			LAB_PIDS="$LAB_PIDS $BG_PID"
		else
			timeout 30 "$@" >>"$LAB_DIR/$u.log" 2>&1 || { rc=$?; break; }
		fi
	done < <(unit_cmds "$u" "$key")
	[ "$n" -gt 0 ] || { echo "### $key: none in $u" >>"$LAB_DIR/$u.log"; return 99; }
	return $rc
}
# the real pid behind `timeout`: the daemon's own, for $MAINPID
child_of() { pgrep -P "$1" | head -n1; }
log_tail() { tail -n 4 "$LAB_DIR/$1.log" | tr '\n' ' ' | sed 's/ *$//'; }
xdp_attached() { lab_mx status --json | $PY -c "
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(i.get('name') == '$LAB_IF_SRV' and i.get('state', 'attached') == 'attached' for i in d.get('interfaces', [])) else 1)"; }

M=mxlimit.service
# start: load onto the interfaces of the default file
if unit_run $M ExecStart; then ok "$M ExecStart ran: $(grep -v '^###' "$LAB_DIR/$M.log" | grep -m1 attached)"; else
	fail "$M ExecStart: $(log_tail $M)"
	echo "# the rest needs mxlimit loaded: stopping here"
	exit 1
fi
check "$M start: XDP attached to $LAB_IF_SRV (mxlimit status)" xdp_attached
# with the unit's capabilities, load must use what full root would: no
# mechanism may fall back for lack of a capability (doctor probes as root)
feat_unit=$(lab_mx status --json | $PY -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["features"], sort_keys=True))')
feat_root=$(lab_mx doctor --json 2>/dev/null | $PY -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["features"], sort_keys=True))')
check_eq "$M start: the unit's capabilities give every mechanism root gets ($feat_unit)" "$feat_unit" "$feat_root"
check "$M start: the kernel sees an XDP program on $LAB_IF_SRV" \
	bash -c "ip -n $LAB_SRV -d link show $LAB_IF_SRV | grep -q 'prog/xdp'"
lab_server 25 || fail "lab server"
check_eq "$M start: connection 1 of 2 admitted" "$(lab_open a1 $LAB_CLI4)" ok
check_eq "$M start: connection 2 of 2 admitted" "$(lab_open a2 $LAB_CLI4)" ok
check_eq "$M start: a SYN over the limit (max = 2) is refused" "$(lab_open a3 $LAB_CLI4 25 "" 1)" timeout

# reload: a changed limit applies
write_policy 3
if unit_run $M ExecReload; then ok "$M ExecReload ran"; else fail "$M ExecReload: $(log_tail $M)"; fi
check_eq "$M reload: max = 3 applies, connection 3 admitted" "$(lab_open a4 $LAB_CLI4)" ok
check_eq "$M reload: connection 4 refused" "$(lab_open a5 $LAB_CLI4 25 "" 1)" timeout
lab_closeall
write_policy 2
cp "$POL" "$LAB_DIR/good.ini"
printf '[concurrency]\nmax = many\n' >>"$POL"
unit_run $M ExecReload
rc=$?
check_eq "$M reload with a broken file: exit status" "$rc" 2
cp "$LAB_DIR/good.ini" "$POL"
unit_run $M ExecReload || fail "$M ExecReload (good file again)"

# a block made while loaded, then stop
lab_mx block 198.18.0.5 --reason unittest >/dev/null || fail "mxlimit block"
check_eq "blocked source refused while loaded" "$(lab_open b1 198.18.0.5 25 "" 1)" timeout
if unit_run $M ExecStop; then ok "$M ExecStop ran"; else fail "$M ExecStop: $(log_tail $M)"; fi
if xdp_attached; then fail "$M stop: XDP still attached"; else ok "$M stop: mxlimit status shows no interface"; fi
check "$M stop: no XDP program left on $LAB_IF_SRV" \
	bash -c "! ip -n $LAB_SRV -d link show $LAB_IF_SRV | grep -q 'prog/xdp'"
check_eq "$M stop: the blocked source gets through (nothing enforces)" "$(lab_open b2 198.18.0.5)" ok
lab_closeall
check "$M stop: the pins stay (the block is still listed)" \
	bash -c "'$MXLIMIT' --pin-dir '$LAB_PIN' blocks | grep -q '^198.18.0.5 .*unittest'"
# start again: the block is back in force
if unit_run $M ExecStart; then ok "$M ExecStart again"; else fail "$M ExecStart again: $(log_tail $M)"; fi
check "$M restart: XDP attached again" xdp_attached
check "$M restart: the block made before stop is in blocks" \
	bash -c "'$MXLIMIT' --pin-dir '$LAB_PIN' blocks | grep -q '^198.18.0.5 .*unittest'"
check_eq "$M restart: the blocked source is refused again" "$(lab_open b3 198.18.0.5 25 "" 1)" timeout

# --- the daemon ---
D=mxlimit-daemon.service
verdict() { # IDENTITY-SETPRIV-ARGS... -- LINE: one request, one reply
	local args=() ; while [ "$1" != -- ]; do args+=("$1"); shift; done; shift
	timeout 5 setpriv "${args[@]}" $PY -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(3)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.recv(512).decode().strip())' "$VSOCK" "$1" 2>&1 | tail -n1
}
unit_run $D ExecStart bg
DPID=$BG_PID
DSTART=$SECONDS
for _ in $(seq 100); do [ -S "$VSOCK" ] && break; sleep 0.05; done
check "$D start: the verdict socket is up" [ -S "$VSOCK" ]
check_eq "$D start: the socket is mode 0660, group mxlimit" \
	"$(stat -c '%a %g' "$VSOCK" 2>/dev/null)" "660 $TEST_GID"
r=$(verdict --reuid 0 -- "QUERY 198.18.0.5")
check "$D start: it answers a verdict (QUERY: $r)" grep -q '^OK 198.18.0.5 block=' <<<"$r"
r=$(verdict --reuid "$TEST_UID" --regid "$TEST_UID" --groups "$TEST_GID" -- "QUERY 198.18.0.5")
check "$D: a member of group mxlimit (the front ends) is served ($r)" grep -q '^OK ' <<<"$r"
r=$(verdict --reuid "$TEST_UID" --regid "$TEST_UID" --clear-groups -- "QUERY 198.18.0.5")
check "$D: a user outside the group is not ($r)" bash -c "! grep -q '^OK ' <<<'$r'"
MAINPID=$(child_of "$DPID")
if [ -n "$MAINPID" ] && MAINPID=$MAINPID unit_run $D ExecReload; then ok "$D ExecReload ran (MAINPID $MAINPID)"; else
	fail "$D ExecReload: $(log_tail $D)"; fi
check "$D reload: the daemon logs the SIGHUP and applies the policy" \
	wait_for 50 grep -q "policy $POL applied" "$LAB_DIR/$D.log"
check "$D reload: still running" kill -0 "$MAINPID"

# --- the proxy ---
P=mxlimit-proxy.service
unit_run $P ExecStart bg
PPID_=$BG_PID
up587() { nsenter --net=/run/netns/$LAB_SRV ss -Hltn "sport = :587" | grep -q LISTEN; }
check "$P start: listening on $LAB_SRV4:587 as an unprivileged uid (CAP_NET_BIND_SERVICE only)" wait_for 50 up587
MAINPID=$(child_of "$PPID_")
check "$P start: runs as the unit's user, not root" \
	bash -c "[ \"\$(stat -c %u /proc/$MAINPID)\" = $TEST_UID ]"
check_eq "$P start: a client reaches it" "$(lab_open p1 $LAB_CLI4 587)" ok
lab_closeall
if [ -n "$MAINPID" ] && MAINPID=$MAINPID unit_run $P ExecReload; then ok "$P ExecReload ran (-t, then HUP)"; else
	fail "$P ExecReload: $(log_tail $P)"; fi
check "$P reload: the proxy logs the reload" wait_for 50 grep -q "reloaded $POL" "$LAB_DIR/$P.log"
check "$P reload: still listening" up587

# --- policyd ---
Q=mxlimit-policyd.service
if unit_run $Q ExecStartPre; then ok "$Q ExecStartPre made the socket directory"; else fail "$Q ExecStartPre: $(log_tail $Q)"; fi
check_eq "$Q: its directory is 0770 root:postfix" "$(stat -c '%a %U %G' "$SPOOL/mxlimit" 2>/dev/null)" "770 root postfix"
check "$Q: ReadWritePaths= is that directory" \
	[ "$(unit_key $Q ReadWritePaths)" = "/var/spool/postfix/mxlimit" ]
unit_run $Q ExecStart bg
QPID=$BG_PID
check "$Q start: its socket is up" wait_for 50 test -S "$PSOCK"
check_eq "$Q start: socket mode 0660, group postfix" "$(stat -c '%a %G' "$PSOCK" 2>/dev/null)" "660 postfix"
r=$(timeout 5 setpriv --reuid "$TEST_UID" --regid "$POSTFIX_GID" --clear-groups $PY -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(3); s.connect(sys.argv[1])
s.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=198.18.0.2\n"
          b"sender=a@example.org\nrecipient=b@example.com\ninstance=1.2.3.0\n\n")
print(s.recv(512).decode().strip())' "$PSOCK" 2>&1)
check "$Q start: answers a policy request from group postfix ($r)" grep -q '^action=DUNNO' <<<"$r"
MAINPID=$(child_of "$QPID")
if [ -n "$MAINPID" ] && MAINPID=$MAINPID unit_run $Q ExecReload; then ok "$Q ExecReload ran (-t, then HUP)"; else
	fail "$Q ExecReload: $(log_tail $Q)"; fi
check "$Q reload: policyd logs the reload" wait_for 50 grep -q "reloaded $POL" "$LAB_DIR/$Q.log"
kill "$MAINPID" 2>/dev/null
for _ in $(seq 100); do kill -0 "$MAINPID" 2>/dev/null || break; sleep 0.05; done
check "$Q stop (SIGTERM): its socket is removed" bash -c "! test -e '$PSOCK'"

# the daemon's first sweep (programs loaded with its capabilities) runs
# 10 s after its start, on the next 2 s tick: let it happen
while [ $((SECONDS - DSTART)) -lt 13 ]; do sleep 0.5; done
check "$D: its housekeeping and sweep ran with its capabilities (no error in 13 s)" \
	bash -c "! grep -v '^###' '$LAB_DIR/$D.log' | grep -qiE 'cannot|not permitted|error|fail'"
# the daemon's SIGTERM leaves enforcement in place
MAINPID=$(child_of "$DPID")
kill "$MAINPID" 2>/dev/null
for _ in $(seq 100); do kill -0 "$MAINPID" 2>/dev/null || break; sleep 0.05; done
check "$D stop (SIGTERM): exited, enforcement stays (XDP attached)" xdp_attached
check "no sanitizer report in any log" \
	bash -c "! cat '$LAB_DIR'/*.service.log | grep -qE 'AddressSanitizer|LeakSanitizer|runtime error'"
[ -n "${VERBOSE:-}" ] && cat "$LAB_DIR"/*.service.log | sed 's/^/# /'
exit 0
