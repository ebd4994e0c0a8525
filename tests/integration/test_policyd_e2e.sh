#!/bin/bash
# The loop closed through Postfix: a private Postfix on the lab's server
# address asks mxlimit-policyd (check_policy_service, unix socket); a
# [recipients] violation becomes a [penalty] verdict to `mxlimit daemon`,
# which writes it into the kernel maps, and the kernel then refuses that
# source's SYNs.  swaks is the client, in the client namespace.
source "$(dirname "$0")/../lib.sh"
MXPOLICYD=${MXPOLICYD:-$ROOT/$BUILD/mxlimit-policyd}
if [ ! -x "$MXPOLICYD" ]; then
	echo "1..0 # SKIP $MXPOLICYD not built"
	exit 0
fi
need_root "policyd end-to-end lab"
command -v swaks >/dev/null || { skip "policyd e2e" "swaks not installed"; exit 0; }
[ -x /usr/sbin/postfix ] || { skip "policyd e2e" "postfix not installed"; exit 0; }
# (lab.sh makes its directory when sourced: only once the test will run)
source "$(dirname "$0")/lab.sh"
lab_setup || { fail "lab setup"; exit 1; }
lab_client_addr 198.18.0.3
lab_client_start
# Postfix's smtpd (user postfix) must reach the policy socket in here
chmod 755 "$LAB_DIR"
SOCK=$LAB_DIR/verdict.sock
PSOCK=$LAB_DIR/policyd.sock
pol=$(lab_policy e2e.ini <<P
[main]
ports = 25

[recipients]
enabled = true
max = 2

[penalty]
recipients = block 10m

[policyd]
listen = unix:$PSOCK
verdict_socket = $SOCK
P
)
# the kernel side reads the same file; if this mxlimit does not know
# [policyd] yet, it gets the file without it (the last section)
kpol=$pol
if ! err=$("$MXLIMIT" check -c "$pol" 2>&1 >/dev/null); then
	echo "# mxlimit check rejects the file with [policyd]: $(head -n1 <<<"$err")"
	echo "# (the kernel and the daemon get it without [policyd])"
	kpol=$LAB_DIR/e2e-kernel.ini
	sed '/^\[policyd\]/,$d' "$pol" >"$kpol"
fi

lab_load_or_die "load" -i "$LAB_IF_SRV" -c "$kpol"
nsenter --net=/run/netns/$LAB_SRV "$MXLIMIT" --pin-dir "$LAB_PIN" daemon -c "$kpol" \
	--socket "$SOCK" --state "$LAB_DIR/state.gz" >"$LAB_DIR/daemon.out" 2>&1 &
LAB_PIDS="$LAB_PIDS $!"
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
check "daemon socket up" [ -S "$SOCK" ]

nsenter --net=/run/netns/$LAB_SRV "$MXPOLICYD" -c "$pol" -v >"$LAB_DIR/policyd.out" 2>&1 &
PDPID=$!
LAB_PIDS="$LAB_PIDS $PDPID"
for _ in $(seq 100); do [ -S "$PSOCK" ] && break; sleep 0.05; done
check "policyd socket up" [ -S "$PSOCK" ]

# --- a private Postfix in the server namespace, on $LAB_SRV4:25 ---------
# (tests/proxy/postfix.sh listens on 127.0.0.1 of the host's namespace;
# the same settings here, see its comments)
PFX=$LAB_DIR/pfx
PFX_DIR=$PFX/etc
PFX_LOG=$PFX/maillog
pfx() { /usr/sbin/postconf -c "$PFX_DIR" "$@"; }
pfx_stop() {
	local pid i
	pid=$(tr -d ' \n' <"$PFX/spool/pid/master.pid" 2>/dev/null)
	/usr/sbin/postfix -c "$PFX_DIR" stop >/dev/null 2>&1
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null
	return 0
}
pfx_start() {
	mkdir -p "$PFX_DIR" "$PFX/spool" "$PFX/data" && chown postfix "$PFX/data" || return 1
	cp /etc/postfix/master.cf "$PFX_DIR/master.cf" && : >"$PFX_DIR/main.cf" || return 1
	pfx -e compatibility_level=3.6 "queue_directory=$PFX/spool" "data_directory=$PFX/data" \
		myhostname=mx.example.test "inet_interfaces=$LAB_SRV4, $LAB_SRV6" inet_protocols=all \
		mydestination= relay_domains=example.test alias_maps= alias_database= \
		smtpd_relay_restrictions=reject_unauth_destination \
		"smtpd_recipient_restrictions=reject_unauth_destination, check_policy_service { unix:$PSOCK, default_action=DUNNO, timeout=10s }" \
		maillog_file_prefixes=/tmp "maillog_file=$PFX_LOG" mynetworks=127.0.0.0/8 \
		"smtpd_data_restrictions=check_client_access static:HOLD" || return 1
	pfx -F '*/*/chroot = n' || return 1
	# Debian's smtp/inet service: port 25 on every inet_interfaces address
	pfx -M "smtp/inet = smtp inet n - n - - smtpd" || return 1
	grep -qE '^postlog[[:space:]]+unix-dgram[[:space:]]' "$PFX_DIR/master.cf" ||
		pfx -M 'postlog/unix-dgram = postlog unix-dgram n - n - 1 postlogd' || return 1
	# (inet_interfaces exists only in the server namespace: check there)
	nsenter --net=/run/netns/$LAB_SRV /usr/sbin/postfix -c "$PFX_DIR" check || return 1
	on_exit pfx_stop
	nsenter --net=/run/netns/$LAB_SRV /usr/sbin/postfix -c "$PFX_DIR" start || return 1
	for _ in $(seq 100); do
		nsenter --net=/run/netns/$LAB_SRV bash -c "exec 3<>/dev/tcp/$LAB_SRV4/25" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
if ! pfx_start; then
	fail "a private Postfix starts in the server namespace"
	exit 1
fi
ok "a private Postfix listens on $LAB_SRV4:25 and [$LAB_SRV6]:25 (server namespace)"

swaks_to() { # source-address rcpts
	local dst=$LAB_SRV4
	case $1 in *:*) dst=$LAB_SRV6 ;; esac
	nsenter --net=/run/netns/$LAB_CLI timeout 40 swaks --server "$dst" --port 25 --local-interface "$1" \
		--from sender@example.org --to "$2" --timeout 15 2>&1
}
out=$(swaks_to $LAB_CLI4 r1@example.test,r2@example.test)
check "two recipients: accepted by Postfix" grep -qE '^<-  250 2\.0\.0 Ok: queued' <<<"$out"
out=$(swaks_to $LAB_CLI4 r1@example.test,r2@example.test,r3@example.test)
check "third recipient refused by Postfix (policyd) with 452 4.5.3" \
	grep -qE '^<\*\* 452 4\.5\.3 .*too many recipients' <<<"$out"
check "Postfix logged the reject for $LAB_CLI4" \
	grep -qE ": reject: RCPT from [^ ]*\[$LAB_CLI4\]: 452 4\.5\.3" "$PFX_LOG"

blocked() { lab_mx blocks | grep -q "^$LAB_CLI4 .*block .*recipients"; }
check "the verdict reached the daemon: $LAB_CLI4 blocked (reason recipients)" wait_for 50 blocked
lab_mx blocks | sed 's/^/# /'
check_eq "the kernel now refuses that source's SYNs" "$(lab_open x1 $LAB_CLI4 25 "" 1.5)" timeout
check_eq "another source still reaches Postfix" "$(lab_open x2 198.18.0.3)" ok
lab_closeall
out=$(swaks_to 198.18.0.3 a@example.test)
check "and delivers mail" grep -qE '^<-  250 2\.0\.0 Ok: queued' <<<"$out"
check "status counts the refusal as a block" \
	[ "$(lab_mx status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["refused_block"])')" -ge 1 ]
check "policyd logged the verdict" grep -q "$LAB_CLI4" "$LAB_DIR/policyd.out"

# the same over IPv6
out=$(swaks_to $LAB_CLI6 r1@example.test,r2@example.test,r3@example.test)
check "IPv6 client: third recipient refused with 452 4.5.3" \
	grep -qE '^<\*\* 452 4\.5\.3 .*too many recipients' <<<"$out"
blocked6() { lab_mx blocks | grep -qE "^fd00:18::(2|/[0-9]+) .*block .*recipients"; }
check "the verdict reached the daemon: $LAB_CLI6 (or its prefix) blocked" wait_for 50 blocked6
lab_mx blocks | sed 's/^/# /'
check_eq "the kernel now refuses that IPv6 source's SYNs" "$(lab_open x3 $LAB_CLI6 25 "" 1.5)" timeout
check_eq "an IPv4 source still reaches Postfix" "$(lab_open x4 198.18.0.3)" ok
lab_closeall

# policyd stops on SIGTERM (bounded wait), status 0, no sanitizer report
kill "$PDPID" 2>/dev/null
for _ in $(seq 200); do kill -0 "$PDPID" 2>/dev/null || break; sleep 0.05; done
check "policyd exited on SIGTERM" bash -c "! kill -0 $PDPID 2>/dev/null"
kill -9 "$PDPID" 2>/dev/null
wait "$PDPID" 2>/dev/null
check_eq "policyd's exit status" "$?" 0
check "no sanitizer report in policyd's log" \
	bash -c "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' '$LAB_DIR/policyd.out'"
[ "$T_FAILED" = 0 ] || sed 's/^/# policyd: /' "$LAB_DIR/policyd.out" | tail -20
[ "$T_FAILED" = 0 ] || grep -E "reject|warning" "$PFX_LOG" | sed "s/^/# maillog: /" | tail -10
exit $T_FAILED
