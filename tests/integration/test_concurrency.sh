#!/bin/bash
# Concurrency limits over real TCP across a veth pair, IPv4 and IPv6, drop
# and reset; reload with open connections; no leaked counts afterwards.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lab.sh"
need_root "concurrency lab"
lab_setup || { fail "lab setup"; exit 1; }
lab_server 25 587 8025 || { fail "lab server"; exit 1; }
lab_client_start

pol=$(lab_policy conc.ini <<'P'
[main]
ports = 25,587
[concurrency]
enabled = true
max = 3
P
)
lab_load_or_die "load" -i "$LAB_IF_SRV" -c "$pol"

active_is() { [ "$(lab_status_field active_connections)" = "$1" ]; }

conc_scenario() { # family-tag client-address
	local tag=$1 src=$2 r
	for i in 1 2 3; do
		check_eq "$tag: connection $i of 3 established" "$(lab_open $tag$i "$src")" ok
	done
	check_eq "$tag: 4th connection refused (drop: times out)" "$(lab_open ${tag}4 "$src" 25 "" 1.5)" timeout
	check "$tag: status counts 3 active" wait_for 30 active_is 3
	lab_close ${tag}1
	check "$tag: a closed connection frees its slot" wait_for 30 active_is 2
	check_eq "$tag: new connection after a close" "$(lab_open ${tag}5 "$src")" ok
	check_eq "$tag: and the limit holds again" "$(lab_open ${tag}6 "$src" 587 "" 1.5)" timeout
	check_eq "$tag: a non-mail port is not limited" "$(lab_open ${tag}7 "$src" 8025)" ok
	lab_closeall
	check "$tag: after all close, 0 active connections (no leak)" wait_for 50 active_is 0
}

conc_scenario v4- $LAB_CLI4
conc_scenario v6- $LAB_CLI6

# reset: refused at once, by a valid RST built in XDP
pol_rst=$(lab_policy rst.ini <<'P'
[main]
ports = 25
action = reset
[concurrency]
enabled = true
max = 1
P
)
check "reload to action=reset" lab_mx reload -c "$pol_rst"
check_eq "reset: first connection" "$(lab_open r1 $LAB_CLI4)" ok
check_eq "reset: second connection refused at once" "$(lab_open r2 $LAB_CLI4 25 "" 5)" refused
check_eq "reset: IPv6 too" "$(lab_open r3 $LAB_CLI6 25 "" 5)" ok
check_eq "reset: IPv6 second refused" "$(lab_open r4 $LAB_CLI6 25 "" 5)" refused
lab_closeall
check "reset: counts back to 0" wait_for 50 active_is 0

# reload while connections are open keeps them counted
pol5=$(lab_policy c5.ini <<'P'
[main]
ports = 25
[concurrency]
enabled = true
max = 5
P
)
pol2=$(lab_policy c2.ini <<'P'
[main]
ports = 25
[concurrency]
enabled = true
max = 2
P
)
check "reload to max=5" lab_mx reload -c "$pol5"
for i in 1 2 3; do lab_open k$i $LAB_CLI4 >/dev/null; done
check "3 open before reload" wait_for 30 active_is 3
check "reload to max=2 with 3 open" lab_mx reload -c "$pol2"
check "reload keeps the open connections counted" active_is 3
check_eq "over the new limit: refused" "$(lab_open k4 $LAB_CLI4 25 "" 1.5)" timeout
printf '[concurrency]\nenabled = true\nmax = three\n' >"$LAB_DIR/bad.ini"
lab_mx reload -c "$LAB_DIR/bad.ini" 2>"$LAB_DIR/err"; rc=$?
check_eq "reload of a bad file exits 2" "$rc" 2
check "reload error names file:line" grep -q "bad.ini:3:" "$LAB_DIR/err"
lab_close k1; lab_close k2
check "2 of 3 closed" wait_for 30 active_is 1
check_eq "bad reload changed nothing: limit still 2 (2nd fits)" "$(lab_open k5 $LAB_CLI4)" ok
check_eq "bad reload changed nothing: 3rd refused" "$(lab_open k6 $LAB_CLI4 25 "" 1.5)" timeout
lab_closeall
check "all closed: 0 active" wait_for 50 active_is 0
exit 0
