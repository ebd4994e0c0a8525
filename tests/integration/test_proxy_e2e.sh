#!/bin/bash
# The loop closed: SMTP-level abuse seen by mxlimit-proxy becomes a verdict,
# `mxlimit daemon` writes it into the kernel maps, and the kernel then
# refuses that source's SYNs.  Real peers: smtp-sink behind the proxy,
# swaks as the client, all in the namespace lab.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lab.sh"
need_root "proxy end-to-end lab"
command -v swaks >/dev/null || { skip "proxy e2e" "swaks not installed"; exit 0; }
lab_setup || { fail "lab setup"; exit 1; }
lab_client_addr 198.18.0.3
lab_client_start
SOCK=$LAB_DIR/verdict.sock
pol=$(lab_policy e2e.ini <<P
[main]
ports = 25

[concurrency]
enabled = true
max = 10

[recipients]
enabled = true
max = 2

[penalty]
recipients = block 10m

[proxy]
listen = $LAB_SRV4:25
backend = 127.0.0.1:2526
verdict_socket = $SOCK
P
)
nsenter --net=/run/netns/$LAB_SRV timeout 120 smtp-sink -u nobody 127.0.0.1:2526 64 \
	>"$LAB_DIR/sink.out" 2>&1 &
LAB_PIDS="$LAB_PIDS $!"
lab_load_or_die "load" -i "$LAB_IF_SRV" -c "$pol"
nsenter --net=/run/netns/$LAB_SRV "$MXLIMIT" --pin-dir "$LAB_PIN" daemon -c "$pol" \
	--socket "$SOCK" --state "$LAB_DIR/state.gz" >"$LAB_DIR/daemon.out" 2>&1 &
LAB_PIDS="$LAB_PIDS $!"
nsenter --net=/run/netns/$LAB_SRV "$MXPROXY" -c "$pol" >"$LAB_DIR/proxy.out" 2>&1 &
PXPID=$!
LAB_PIDS="$LAB_PIDS $PXPID"
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
check "daemon socket up" [ -S "$SOCK" ]

swaks_to() { # from-address rcpts
	nsenter --net=/run/netns/$LAB_CLI swaks --server $LAB_SRV4:25 --local-interface "$1" \
		--from sender@example.org --to "$2" --timeout 10 2>&1
}
out=$(swaks_to $LAB_CLI4 r1@example.com,r2@example.com)
check "two recipients: delivered through the proxy" grep -q "^<-  250" <<<"$out"
out=$(swaks_to $LAB_CLI4 r1@example.com,r2@example.com,r3@example.com)
check "third recipient refused by the proxy with 452 4.5.3" grep -q "^<\*\* 452 4.5.3" <<<"$out"

blocked() { lab_mx blocks | grep -q "^$LAB_CLI4 .*block .*recipients"; }
check "the verdict reached the daemon: $LAB_CLI4 blocked (reason recipients)" wait_for 50 blocked
check_eq "the kernel now refuses that source's SYNs" "$(lab_open x1 $LAB_CLI4 25 "" 1.5)" timeout
check_eq "another source still reaches the proxy" "$(lab_open x2 198.18.0.3)" ok
lab_closeall
out=$(swaks_to 198.18.0.3 a@example.com)
check "and delivers mail" grep -q "^<-  250 .*" <<<"$out"
check "status counts the refusal as a block" \
	[ "$(lab_mx status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["refused_block"])')" -ge 1 ]
# the proxy stops on SIGTERM (bounded wait) with no sanitizer report
kill "$PXPID" 2>/dev/null
for _ in $(seq 200); do kill -0 "$PXPID" 2>/dev/null || break; sleep 0.05; done
check "the proxy exited on SIGTERM" bash -c "! kill -0 $PXPID 2>/dev/null"
kill -9 "$PXPID" 2>/dev/null
check "no sanitizer report in the proxy's log" \
	bash -c "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' '$LAB_DIR/proxy.out'"
exit 0
