#!/bin/bash
# `make demo`, the README's first command, as a test: scripts/demo.sh on the
# built tree (its package and build steps skipped: the suite built it and its
# preflight checked the tools) must end "demo: ok" with every one of its expectations held (the
# legitimate sender's 50 messages, the abusive client held to 5 with 195
# resets, status agreeing), exit 0, and leave no namespace, pin dir or
# process behind.  demo-gateway and demo-cluster share demo-lib.sh; their
# behaviour is tested by test_gateway and test_cluster.
source "$(dirname "$0")/../lib.sh"
need_root "demo lab"

out=$(DEMO_PREBUILT=1 BUILD=$BUILD timeout 180 bash "$ROOT/scripts/demo.sh" 2>&1)
rc=$?
check_eq "make demo exits 0" "$rc" 0
check "it ends 'demo: ok'" grep -qx 'demo: ok: every expectation held' <<<"$out"
for e in "the legitimate client delivered its 50 messages" \
	"the abusive client held exactly 5 connections" \
	"its other 195 attempts were refused by the server.s kernel" \
	"status counts its 5 connections" \
	"the kernel sent 195 resets"; do
	check "expectation held: $e" grep -qE "^  ok +$e" <<<"$out"
done
check "status shows the features line" grep -q '^features: xdp, sockstate ' <<<"$out"
check "top lists the abusive client with 5 active" grep -qE '^198\.18\.2\.2 +5 ' <<<"$out"
pid=$(sed -n 's/.*== lab: server mxdemo-srv-\([0-9]*\),.*/\1/p' <<<"$out")
check "the demo named its lab" test -n "$pid"
check "no namespace left" bash -c "! ip netns list | grep -q 'mxdemo-.*-$pid'"
check "no pin dir left" test ! -e "/sys/fs/bpf/mxlimit-demo-$pid"
check "no smtp-sink left" bash -c "! pgrep -f '[s]mtp-sink -u nobody -c 0.0.0.0:25 1024' >/dev/null"
[ "${T_FAILED:-0}" = 1 ] && sed 's/^/# /' <<<"$out"
exit $T_FAILED
