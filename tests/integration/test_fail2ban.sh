#!/bin/bash
# fail2ban drives mxlimit: Debian's real fail2ban-server, in the foreground
# on a scratch configuration (its own socket, pid file, log, in-memory
# database; Debian's postfix filter; our contrib/fail2ban/action.d/mxlimit.conf),
# reads a scratch mail log.  Failed SASL logins written to that log make it
# ban: the kernel block appears with the jail's bantime and reason, the
# source's SYNs are refused in the namespace lab while another source still
# connects; unban (by fail2ban-client, by the bantime running out, by
# stopping fail2ban) lets it back.  IPv4 and IPv6; bantime -1 (permanent).
#
# fail2ban-server runs in the host's namespaces: the action's mxlimit opens
# the lab's pins under /sys/fs/bpf directly (`ip netns exec` would hide them,
# docs/design.md "Labs and their pitfalls").  The system's fail2ban (its
# /etc/fail2ban/fail2ban.conf, its socket, its service) is never used.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lab.sh"
need_root "fail2ban lab"
F2B_SERVER=$(command -v fail2ban-server) || { skip "fail2ban" "fail2ban-server not installed"; exit 0; }
F2B_CLIENT=$(command -v fail2ban-client) || { skip "fail2ban" "fail2ban-client not installed"; exit 0; }
SYS_FILTERS=/etc/fail2ban/filter.d
if [ ! -r $SYS_FILTERS/postfix.conf ] || [ ! -r $SYS_FILTERS/common.conf ]; then
	skip "fail2ban" "no $SYS_FILTERS/postfix.conf"; exit 0
fi
ACTION=${F2B_ACTION:-$ROOT/contrib/fail2ban/action.d/mxlimit.conf}

lab_setup || { fail "lab setup"; exit 1; }
lab_server 25 || { fail "lab server"; exit 1; }
for a in 198.18.0.3 198.18.0.4 198.18.0.5 198.18.0.6 fd00:18::3; do lab_client_addr $a; done
lab_client_start
pol=$(lab_policy f2b.ini <<'P'
[main]
ports = 25
[concurrency]
enabled = true
max = 10
P
)
lab_load_or_die "load" -i "$LAB_IF_SRV" -c "$pol"

# --- the scratch configuration
C=$LAB_DIR/f2b
SOCK=$C/f2b.sock
PIDFILE=$C/f2b.pid
F2BLOG=$C/fail2ban.log
LOG=$C/mail.log          # jail mx-postfix: bantime 30
LOGP=$C/mail-perm.log    # jail mx-perm: bantime -1
LOGS=$C/mail-short.log   # jail mx-short: bantime 3
mkdir -p "$C/filter.d" "$C/action.d" "$C/jail.d" "$C/fail2ban.d"
cp $SYS_FILTERS/postfix.conf $SYS_FILTERS/common.conf "$C/filter.d/"
cp "$ACTION" "$C/action.d/mxlimit.conf"
: >"$LOG"; : >"$LOGP"; : >"$LOGS"
cat >"$C/fail2ban.conf" <<EOF
[Definition]
loglevel = INFO
logtarget = $F2BLOG
syslogsocket = auto
socket = $SOCK
pidfile = $PIDFILE
dbfile = :memory:
dbpurgeage = 1d
EOF
# the action's options as a user passes them (action = mxlimit[...])
act="mxlimit[mxlimit=\"$MXLIMIT\", pin_dir=\"$LAB_PIN\"]"
cat >"$C/jail.conf" <<EOF
[DEFAULT]
backend = polling
maxretry = 3
findtime = 60
usedns = no
ignoreip =
action = $act

[mx-postfix]
enabled = true
filter = postfix[mode=auth]
logpath = $LOG
bantime = 30

[mx-perm]
enabled = true
filter = postfix[mode=auth]
logpath = $LOGP
bantime = -1

[mx-short]
enabled = true
filter = postfix[mode=auth]
logpath = $LOGS
bantime = 3
EOF

# Debian 12's rsyslog writes RFC 3339 timestamps; the traditional BSD
# format is checked too (the IPv6 lines).
iso_fail() { # FILE IP
	echo "$(date '+%Y-%m-%dT%H:%M:%S.%6N%:z') mx postfix/smtpd[$RANDOM]: warning: unknown[$2]: SASL LOGIN authentication failed: UGFzc3dvcmQ6" >>"$1"
}
bsd_fail() { # FILE IP
	echo "$(LC_ALL=C date '+%b %e %H:%M:%S') mx postfix/submission/smtpd[$RANDOM]: warning: unknown[$2]: SASL PLAIN authentication failed: authentication failure" >>"$1"
}
R=$C/regex.log
iso_fail "$R" "$LAB_CLI4"; bsd_fail "$R" "$LAB_CLI6"
check "fail2ban-regex: Debian's postfix[mode=auth] filter matches both log line formats" \
	bash -c "fail2ban-regex '$R' '$SYS_FILTERS/postfix.conf[mode=auth]' 2>&1 | grep -q '2 matched, 0 missed'"
check "fail2ban-client -t: the scratch configuration with the mxlimit action is valid" \
	bash -c "'$F2B_CLIENT' -c '$C' -s '$SOCK' -p '$PIDFILE' -t >'$C/test.out' 2>&1"
# the example jail on top of a copy of Debian's configuration: both jails
# end up with the mxlimit action (a dump; nothing is started)
EXAMPLE=$ROOT/contrib/fail2ban/jail.d/mxlimit.conf.example
if [ -r /etc/fail2ban/jail.conf ]; then
	E=$LAB_DIR/f2b-example
	cp -a /etc/fail2ban "$E" && cp "$ACTION" "$E/action.d/mxlimit.conf" &&
		cp "$EXAMPLE" "$E/jail.d/mxlimit.local"
	timeout 20 "$F2B_CLIENT" -c "$E" -s "$E/x.sock" -p "$E/x.pid" --dp >"$E/dump" 2>&1
	for j in postfix-sasl dovecot; do
		check "example jail $j: action mxlimit, reason f2b-$j" \
			bash -c "grep -qF \"['set', '$j', 'addaction', 'mxlimit']\" '$E/dump' &&
				grep -F \"['multi-set', '$j', 'action', 'mxlimit'\" '$E/dump' | grep -qF 'f2b-$j'"
	done
else
	skip "example jails" "no /etc/fail2ban/jail.conf"
fi

# --- fail2ban-server in the foreground, stopped on exit by its PID
f2b() { timeout 20 "$F2B_CLIENT" -c "$C" -s "$SOCK" -p "$PIDFILE" "$@"; }
"$F2B_SERVER" -f -x -c "$C" -s "$SOCK" -p "$PIDFILE" >"$C/server.out" 2>&1 &
F2BPID=$!
f2b_stop() {
	local i
	kill -0 "$F2BPID" 2>/dev/null || return 0
	kill "$F2BPID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do kill -0 "$F2BPID" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$F2BPID" 2>/dev/null
}
on_exit f2b_stop
up() { f2b ping 2>/dev/null | grep -q pong && f2b status mx-short >/dev/null 2>&1; }
if ! wait_for 150 up; then
	fail "fail2ban-server started with the scratch configuration"
	sed 's/^/# /' "$C/server.out" | tail -n 20
	tail -n 20 "$F2BLOG" 2>/dev/null | sed 's/^/# /'
	exit 1
fi
ok "fail2ban-server started (foreground, pid $F2BPID, socket $SOCK)"

# blocked ADDR REASON [EXPIRES]: `mxlimit blocks` lists a block of ADDR
blocked() { lab_mx blocks | grep -q "^$1 \+block \+${3:-[^ ]\+} \+$2\b"; }
unblocked() { ! lab_mx blocks | grep -q "^$1 "; }
# ttl_s ADDR: the block's seconds left, from blocks --json ("none": no expiry)
ttl_s() {
	lab_mx blocks --json | python3 -c 'import json,sys
for s in json.load(sys.stdin)["sanctions"]:
    if s["prefix"] == sys.argv[1] and s["kind"] == "block":
        print(s.get("expires_in_s", "none"))' "$1"
}
in_range() { [ "$1" -ge "$2" ] 2>/dev/null && [ "$1" -le "$3" ]; }
f2b_logged() { grep -q "$1" "$F2BLOG"; }
unbanip() { f2b set "$1" unbanip "$2" >/dev/null 2>&1; } # JAIL ADDR

# --- IPv4: three failures -> ban -> kernel block; unbanip -> admitted
check_eq "before: $LAB_CLI4 connects" "$(lab_open a0 $LAB_CLI4)" ok
lab_closeall
for _ in 1 2 3; do iso_fail "$LOG" $LAB_CLI4; done
check "3 SASL failures: fail2ban bans $LAB_CLI4 and mxlimit blocks it (reason f2b-mx-postfix)" \
	wait_for 100 blocked $LAB_CLI4 f2b-mx-postfix
t=$(ttl_s $LAB_CLI4)
check "the kernel block carries the jail's bantime (30 s; left: ${t}s)" in_range "$t" 20 30
check "fail2ban logged the ban" f2b_logged "\[mx-postfix\] Ban $LAB_CLI4"
check_eq "the kernel refuses $LAB_CLI4's SYNs" "$(lab_open a1 $LAB_CLI4 25 "" 1.5)" timeout
check_eq "another source (198.18.0.3) still connects" "$(lab_open a2 198.18.0.3)" ok
lab_closeall
check "fail2ban-client set mx-postfix unbanip $LAB_CLI4" unbanip mx-postfix $LAB_CLI4
check "unban: the kernel block is gone" wait_for 50 unblocked $LAB_CLI4
check_eq "after unban $LAB_CLI4 connects again" "$(lab_open a3 $LAB_CLI4)" ok
lab_closeall

# --- IPv6 (and the traditional syslog timestamp)
check_eq "before: $LAB_CLI6 connects" "$(lab_open v0 $LAB_CLI6)" ok
lab_closeall
for _ in 1 2 3; do bsd_fail "$LOG" $LAB_CLI6; done
check "IPv6: fail2ban bans $LAB_CLI6 and mxlimit blocks it" wait_for 100 blocked $LAB_CLI6 f2b-mx-postfix
check_eq "the kernel refuses $LAB_CLI6's SYNs" "$(lab_open v1 $LAB_CLI6 25 "" 1.5)" timeout
check_eq "another IPv6 source (fd00:18::3) still connects" "$(lab_open v2 fd00:18::3)" ok
lab_closeall
# (left banned: stopping fail2ban must lift it, below)

# --- bantime = -1: a block with no expiry, lifted by unban only
for _ in 1 2 3; do iso_fail "$LOGP" 198.18.0.4; done
check "bantime -1: a block that never expires (reason f2b-mx-perm)" wait_for 100 blocked 198.18.0.4 f2b-mx-perm never
check_eq "bantime -1: blocks --json has no expiry" "$(ttl_s 198.18.0.4)" none
check_eq "the kernel refuses 198.18.0.4's SYNs" "$(lab_open p1 198.18.0.4 25 "" 1.5)" timeout
check "fail2ban-client set mx-perm unbanip 198.18.0.4" unbanip mx-perm 198.18.0.4
check "unbanip lifts the permanent block" wait_for 50 unblocked 198.18.0.4
check_eq "198.18.0.4 connects again" "$(lab_open p2 198.18.0.4)" ok
lab_closeall

# --- a short bantime runs out: fail2ban's own unban (and the kernel's expiry)
for _ in 1 2 3; do iso_fail "$LOGS" 198.18.0.5; done
check "bantime 3: banned and blocked" wait_for 100 blocked 198.18.0.5 f2b-mx-short
t=$(ttl_s 198.18.0.5)
check "bantime 3: the kernel block expires within 3 s (left: ${t}s)" in_range "$t" 0 3
check_eq "the kernel refuses 198.18.0.5's SYNs" "$(lab_open s1 198.18.0.5 25 "" 1)" timeout
check "the bantime runs out: fail2ban unbans 198.18.0.5" wait_for 100 f2b_logged "\[mx-short\] Unban 198.18.0.5"
check "and the block is gone" wait_for 20 unblocked 198.18.0.5
check_eq "198.18.0.5 connects again" "$(lab_open s2 198.18.0.5)" ok
lab_closeall

# --- unban of a block that is already gone is not an action error
f2b set mx-perm banip 198.18.0.6 >/dev/null 2>&1
check "fail2ban-client banip: blocked" wait_for 50 blocked 198.18.0.6 f2b-mx-perm
lab_mx unblock 198.18.0.6 >/dev/null
f2b set mx-perm unbanip 198.18.0.6 >/dev/null 2>&1
check "unban after a manual mxlimit unblock: fail2ban logs it" wait_for 50 f2b_logged "\[mx-perm\] Unban 198.18.0.6"
check "... with no action error" bash -c "! grep -q 'ERROR.*198.18.0.6\|Failed to execute unban.*198.18.0.6' '$F2BLOG'"

# --- stopping fail2ban unbans what it banned
check "IPv6 ban still in force before the stop" blocked $LAB_CLI6 f2b-mx-postfix
f2b stop >/dev/null 2>&1
for _ in $(seq 100); do kill -0 "$F2BPID" 2>/dev/null || break; sleep 0.1; done
check "fail2ban-client stop: the server exited" bash -c "! kill -0 $F2BPID 2>/dev/null"
check "stopping fail2ban lifted its IPv6 block" unblocked $LAB_CLI6
check_eq "$LAB_CLI6 connects again" "$(lab_open v3 $LAB_CLI6)" ok
lab_closeall
check_eq "no blocks left" "$(lab_mx blocks | tail -n +2 | wc -l)" 0
if grep -q "ERROR" "$F2BLOG"; then
	fail "fail2ban logged no errors"
	grep "ERROR" "$F2BLOG" | head -n 10 | sed 's/^/# /'
else
	ok "fail2ban logged no errors"
fi
exit 0
