# tests/proxy/postfix.sh - a private, throw-away Postfix instance as an SMTP
# backend whose accepted messages can be read back by the test.
#
# Needs the Debian package `postfix` (/usr/sbin/postfix, postconf, postcat,
# postsuper) and root (Postfix's master runs its daemons as user postfix).
# Source it AFTER pxlib.sh: it uses $TMP, on_exit, free_port and wait_port.
# It never touches /etc/postfix or the system's Postfix instance: everything
# (config, queue, data, log) lives in $TMP/pfx and is removed with $TMP.
#
# The instance listens on 127.0.0.1:$PFX_PORT only, relays (accepts) mail for
# example.test, rejects other recipient domains, and puts every accepted
# message in its HOLD queue, so nothing is ever delivered and each message
# stays on disk for the test to inspect.
#
#   start_postfix [NAME=VALUE...]  create and start the instance; each extra
#                       argument is a main.cf setting (postconf -e), applied
#                       after the defaults so it can override them. Sets
#                       $PFX_PORT (SMTP port), $PFX_DIR (config directory)
#                       and $PFX_LOG (its maillog). Registers an on_exit that
#                       stops it. On failure prints why and returns 1.
#   pfx_held_count      number of messages in the hold queue.
#   pfx_held_recipients every envelope recipient of every held message, one
#                       per line, oldest message first.
#   pfx_held_bodies     the body of every held message, oldest first, each
#                       preceded by a line "=== held QUEUE_ID" (a body's
#                       first line is the empty line that ends the headers).
#   pfx_clear_held      delete every held message.
#
# Holding works for DATA and BDAT alike. A caller overriding
# smtpd_data_restrictions must keep "check_client_access static:HOLD" in it,
# or accepted mail is queued for (failing) delivery instead. The master runs
# as "master -w" with the instance named only in its MAIL_CONFIG environment,
# so look for leftovers with grep -l "$TMP" /proc/[0-9]*/environ, not pgrep.

PFX_PORT=
PFX_DIR=
PFX_LOG=

# _pfx_conf ARGS...: postconf on the private instance's configuration.
_pfx_conf() { /usr/sbin/postconf -c "$PFX_DIR" "$@"; }

start_postfix() {
	local base=$TMP/pfx out
	PFX_DIR=$base/etc
	PFX_LOG=$base/maillog
	PFX_PORT=$(free_port)
	mkdir -p "$base/etc" "$base/spool" "$base/data" || return 1
	# Postfix (master, postlogd, ...) writes its locks and caches here.
	chown postfix "$base/data" || return 1
	cp /etc/postfix/master.cf "$PFX_DIR/master.cf" || return 1
	: >"$PFX_DIR/main.cf"

	# compatibility_level: current defaults, and no "backwards-compatible
	#   default setting" warnings in the log.
	# queue_directory/data_directory: private, so the system instance (if
	#   any) is never touched; the master's pid file is spool/pid/master.pid.
	# mydestination empty + relay_domains=example.test: no local delivery at
	#   all, example.test is accepted as a relay domain with any recipient
	#   (relay_recipient_maps is empty), other domains are refused by
	#   reject_unauth_destination (no permit_mynetworks: 127.0.0.1 may not
	#   relay elsewhere either).
	# alias_maps/alias_database empty: no /etc/aliases lookups or warnings.
	# maillog_file: log to a file through the postlog service instead of
	#   syslog (there may be no syslog daemon); Postfix refuses a file whose
	#   path does not start with one of maillog_file_prefixes.
	# mynetworks: the "trusted" clients, e.g. for XCLIENT when a test adds
	#   smtpd_authorized_xclient_hosts=$mynetworks.
	# smtpd_data_restrictions: the HOLD action of an access table applies to
	#   the whole message; static:HOLD returns it for every client, so every
	#   accepted message lands in the hold queue (cleanup moves it there
	#   before smtpd says 250) and the queue manager never sees it.
	out=$(_pfx_conf -e \
		compatibility_level=3.6 \
		"queue_directory=$base/spool" \
		"data_directory=$base/data" \
		myhostname=backend.example.test \
		inet_interfaces=127.0.0.1 \
		inet_protocols=ipv4 \
		mydestination= \
		relay_domains=example.test \
		alias_maps= \
		alias_database= \
		smtpd_relay_restrictions=reject_unauth_destination \
		maillog_file_prefixes=/tmp \
		"maillog_file=$PFX_LOG" \
		mynetworks=127.0.0.0/8 \
		"smtpd_data_restrictions=check_client_access static:HOLD" \
		"$@" 2>&1) || { echo "postconf -e: $out" >&2; return 1; }
	# Debian's master.cf chroots most daemons into the system queue
	# directory; a private instance must not.
	out=$(_pfx_conf -F '*/*/chroot = n' 2>&1) ||
		{ echo "postconf -F: $out" >&2; return 1; }
	# Replace the port-25 listener by one on the test's port.
	out=$(_pfx_conf -MX smtp/inet 2>&1 &&
		_pfx_conf -M "127.0.0.1:$PFX_PORT/inet = 127.0.0.1:$PFX_PORT inet n - n - - smtpd" 2>&1) ||
		{ echo "postconf -M: $out" >&2; return 1; }
	# maillog_file is written by postlogd, started for the postlog service.
	# (grep, not postconf -M: each postconf run costs ~0.3 s here.)
	if ! grep -qE '^postlog[[:space:]]+unix-dgram[[:space:]]' "$PFX_DIR/master.cf"; then
		_pfx_conf -M 'postlog/unix-dgram = postlog unix-dgram n - n - 1 postlogd' ||
			return 1
	fi

	# check also creates the queue directories with their owners and modes.
	if ! out=$(/usr/sbin/postfix -c "$PFX_DIR" check 2>&1); then
		_pfx_why "postfix check failed" "$out"
		return 1
	fi
	# Registered before start: a half-started master is stopped too.
	on_exit "_pfx_stop '$PFX_DIR' '$base/spool/pid/master.pid'"
	if ! out=$(/usr/sbin/postfix -c "$PFX_DIR" start 2>&1) ||
		! wait_port "$PFX_PORT"; then
		_pfx_why "postfix start failed" "$out"
		return 1
	fi
}

# _pfx_why WHAT OUTPUT: explain a failed check/start on stderr, as far as
# Postfix lets us. postfix(1) prints its errors on stderr only when that is
# a terminal, and errors found while reading main.cf go to syslog (the
# maillog file is not known yet), so the check is re-run on a
# pseudo-terminal (script(1), util-linux) to show them. The master's own
# start-up errors (e.g. bind failures) also go to syslog only (postlogd is
# not running yet), often absent in test machines: probe the port instead.
_pfx_why() {
	local cmd
	echo "$1${2:+: $2}" >&2
	[ -s "$PFX_LOG" ] && sed 's/^/maillog: /' "$PFX_LOG" >&2
	python3 -c 'import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError as e:
    print("127.0.0.1:%s: %s" % (sys.argv[1], e.strerror))' "$PFX_PORT" >&2
	if command -v script >/dev/null; then
		printf -v cmd '/usr/sbin/postfix -c %q check' "$PFX_DIR"
		script -qec "$cmd" /dev/null </dev/null | tr -d '\r' |
			sed 's/^/postfix check: /' >&2
	fi
	return 0
}

# _pfx_stop CONFIG_DIR PID_FILE: orderly stop, then SIGKILL the master if
# it is still alive 5 s later. The master is a session leader (pgid = pid),
# so the SIGKILL goes to its process group: its children die with it.
# ("postfix stop" itself waits up to 5 s and means to do the same, but in
# Postfix 3.7's postfix-script `awk '{print $1; exit 0} END {exit 1}'` always
# fails, so its forced kill never happens.)
_pfx_stop() {
	local dir=$1 pidfile=$2 pid i
	pid=$(tr -d ' \n' <"$pidfile" 2>/dev/null)
	/usr/sbin/postfix -c "$dir" stop >/dev/null 2>&1
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null
	return 0
}

# _pfx_held_files: the hold queue's files, oldest first.
_pfx_held_files() {
	find "$TMP/pfx/spool/hold" -type f -printf '%T@ %p\n' 2>/dev/null |
		sort -n | cut -d' ' -f2-
}

pfx_held_count() {
	_pfx_held_files | wc -l
}

pfx_held_recipients() {
	local f
	while IFS= read -r f; do
		# -e: envelope records only; "recipient: ADDR", one per recipient.
		/usr/sbin/postcat -c "$PFX_DIR" -e "$f" | sed -n 's/^recipient: //p'
	done < <(_pfx_held_files)
}

pfx_held_bodies() {
	local f
	while IFS= read -r f; do
		echo "=== held ${f##*/}"
		# -b: the message body only (no envelope, no headers, no
		# "*** ... ***" section markers).
		/usr/sbin/postcat -c "$PFX_DIR" -b "$f"
	done < <(_pfx_held_files)
}

pfx_clear_held() {
	/usr/sbin/postsuper -c "$PFX_DIR" -d ALL hold >/dev/null 2>&1
}
