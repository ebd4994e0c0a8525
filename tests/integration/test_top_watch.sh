#!/bin/bash
# `mxlimit top --watch` in a real terminal (tmux): it draws the sources by
# active connections and the refusals per second by reason, redraws in
# place, and quits on q, leaving the terminal as it found it.
source "$(dirname "$0")/../lib.sh"
need_root "top --watch"
command -v tmux >/dev/null || { skip "top --watch" "tmux not installed"; exit 0; }
source "$(dirname "$0")/lab.sh"
lab_setup || { fail "lab setup"; exit 1; }
lab_server 25 || { fail "lab server"; exit 1; }
lab_client_addr 198.18.0.3
lab_client_start
pol=$(lab_policy top.ini <<'P'
[main]
ports = 25

[concurrency]
enabled = true
max = 10
P
)
lab_load_or_die "load" -i "$LAB_IF_SRV" -c "$pol"
# a private tmux server: its socket name is ours alone, killed at the end
TMUXS=mxtest-$TEST_ID
on_exit "tmux -L $TMUXS kill-server 2>/dev/null"
screen() { tmux -L "$TMUXS" capture-pane -p -t top 2>/dev/null; }

check_eq "three connections from $LAB_CLI4" \
	"$(lab_open a $LAB_CLI4) $(lab_open b $LAB_CLI4) $(lab_open c $LAB_CLI4)" "ok ok ok"
tmux -L "$TMUXS" new-session -d -s top -x 120 -y 40 \
	"nsenter --net=/run/netns/$LAB_SRV $MXLIMIT --pin-dir $LAB_PIN top --watch --interval 0.3; echo EXITED \$?; sleep 30"
shows() { screen | grep -qE "$1"; }
check "it draws its header" wait_for 50 shows '^mxlimit top - .*q to quit'
check "the source with its 3 active connections" wait_for 50 shows "^$LAB_CLI4 +3 +0 "
check "refusals per second by reason" shows '^refused SYNs/s: .*block [0-9.]+'
# a blocked source's SYNs show up as block refusals per second
lab_mx block $LAB_CLI4 --ttl 60 --reason toptest >/dev/null
for i in 1 2 3; do lab_open "x$i" $LAB_CLI4 25 "" 0.3 >/dev/null; done
check "blocked SYNs counted: block refusals/s > 0 first in the list" \
	wait_for 50 shows '^refused SYNs/s: block [1-9]'
check "redrawn in place: one header on the screen" [ "$(screen | grep -c '^mxlimit top - ')" = 1 ]
tmux -L "$TMUXS" send-keys -t top q
check "q quits (exit status 0)" wait_for 30 shows '^EXITED 0'
# the terminal is back in canonical mode with echo: typed text is echoed
tmux -L "$TMUXS" send-keys -t top 'echo-test-typed'
check "the terminal is restored (echo back on)" wait_for 20 shows 'echo-test-typed'
check "--watch with --json is a usage error (2)" \
	bash -c "nsenter --net=/run/netns/$LAB_SRV $MXLIMIT --pin-dir $LAB_PIN --json top --watch >/dev/null 2>&1; [ \$? = 2 ]"
check "a bad --interval is a usage error (2)" \
	bash -c "nsenter --net=/run/netns/$LAB_SRV $MXLIMIT --pin-dir $LAB_PIN top --watch -d 0.01 >/dev/null 2>&1; [ \$? = 2 ]"
exit 0
