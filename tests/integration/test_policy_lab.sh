#!/bin/bash
# Policy semantics over real TCP: rate_conn, prefix aggregation of
# `default`, explicit prefixes as one shared counter (haraka), allowlist 0,
# longest-prefix match, non-mail ports untouched.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lab.sh"
need_root "policy lab"
lab_setup || { fail "lab setup"; exit 1; }
lab_server 25 8025 || { fail "lab server"; exit 1; }
lab_client_start
for a in 198.18.0.3 198.18.0.4 198.18.7.5 198.18.7.6 198.18.9.9 198.19.1.1 198.19.1.2; do
	lab_client_addr $a
done
active_is() { [ "$(lab_status_field active_connections)" = "$1" ]; }
reset_lab() { lab_closeall; wait_for 50 active_is 0; }

# --- rate_conn 5 per minute: the 6th new connection is refused
pol=$(lab_policy rate.ini <<'P'
[main]
ports = 25
[rate_conn]
enabled = true
default = 5/1m
P
)
lab_load_or_die "load with rate_conn 5/1m" -i "$LAB_IF_SRV" -c "$pol"
for i in 1 2 3 4 5; do
	check_eq "rate: connection $i of 5" "$(lab_open q$i $LAB_CLI4)" ok
	lab_close q$i
done
check_eq "rate: the 6th within the minute is refused" "$(lab_open q6 $LAB_CLI4 25 "" 1.5)" timeout
check_eq "rate: another source has its own budget" "$(lab_open q7 198.18.0.3)" ok
check_eq "rate: a non-mail port is not limited" "$(lab_open q8 $LAB_CLI4 8025)" ok
reset_lab

# --- aggregation: ipv4_prefix = 24 makes one /24 one source for `default`
pol=$(lab_policy agg24.ini <<'P'
[main]
ports = 25
ipv4_prefix = 24
[concurrency]
enabled = true
max = 2
P
)
check "reload: ipv4_prefix 24, max 2" lab_mx reload -c "$pol"
check_eq "agg /24: first address" "$(lab_open a1 198.18.0.3)" ok
check_eq "agg /24: second address, same /24" "$(lab_open a2 198.18.0.4)" ok
check_eq "agg /24: third connection from the /24 refused" "$(lab_open a3 $LAB_CLI4 25 "" 1.5)" timeout
check_eq "agg /24: another /24 is another source" "$(lab_open a4 198.18.7.5)" ok
check_eq "query shows the /24 counter" "$(lab_mx query 198.18.0.9 --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["concurrency"]; print(d["counter"], d["active"])')" "198.18.0.0/24 2"
reset_lab
pol=$(lab_policy agg32.ini <<'P'
[main]
ports = 25
ipv4_prefix = 32
[concurrency]
enabled = true
max = 1
P
)
check "reload: ipv4_prefix 32, max 1" lab_mx reload -c "$pol"
check_eq "agg /32: first address" "$(lab_open b1 198.18.0.3)" ok
check_eq "agg /32: second address of the same /24 counts apart" "$(lab_open b2 198.18.0.4)" ok
check_eq "agg /32: but each address has its own limit" "$(lab_open b3 198.18.0.4 25 "" 1.5)" timeout
reset_lab

# --- explicit entries: a /24 lookup is one counter for all it matches;
# longest prefix wins; 0 is unlimited (allowlist)
pol=$(lab_policy explicit.ini <<'P'
[main]
ports = 25
[concurrency]
enabled = true
max = 1
198.18.7.0/24 = 3
198.18 = 4
198.19.1.1 = 0
P
)
check "reload: explicit entries" lab_mx reload -c "$pol"
check_eq "explicit /24: address one" "$(lab_open e1 198.18.7.5)" ok
check_eq "explicit /24: address two" "$(lab_open e2 198.18.7.6)" ok
check_eq "explicit /24: address one again" "$(lab_open e3 198.18.7.5)" ok
check_eq "explicit /24: 4th in the /24, shared counter full" "$(lab_open e4 198.18.7.6 25 "" 1.5)" timeout
check_eq "haraka 198.18 (= /16) over default: 1st" "$(lab_open f1 198.18.9.9)" ok
check_eq "haraka 198.18 (= /16) over default: 2nd (default would refuse)" "$(lab_open f2 198.18.0.3)" ok
check_eq "query names the matched lookup" "$(lab_mx query 198.18.9.9 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["concurrency"]["lookup"])')" "198.18.0.0/16"
for i in 1 2 3 4 5 6; do lab_open z$i 198.19.1.1 >/dev/null; done
check "allowlist 0: 6 connections, none refused" wait_for 30 [ "$(lab_mx query 198.19.1.1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["concurrency"]["active"])')" = 6 ]
check_eq "allowlisted address is flagged" "$(lab_mx query 198.19.1.1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["allowlisted"])')" True
check_eq "default still 1 for others: 1st" "$(lab_open g1 198.19.1.2)" ok
check_eq "default still 1 for others: 2nd refused" "$(lab_open g2 198.19.1.2 25 "" 1.5)" timeout
reset_lab

# --- the wide level: each /32 and its /24 at once, over real TCP
pol=$(lab_policy wide.ini <<'P'
[main]
ports = 25
ipv4_wide_prefix = 24
[concurrency]
enabled = true
max = 2
wide = 3
P
)
check "reload: per-source 2, wide /24 3" lab_mx reload -c "$pol"
check_eq "wide: 1st from .2" "$(lab_open w1 $LAB_CLI4)" ok
check_eq "wide: 2nd from .2" "$(lab_open w2 $LAB_CLI4)" ok
check_eq "wide: 3rd from .2 over its own limit" "$(lab_open w3 $LAB_CLI4 25 "" 1.5)" timeout
check_eq "wide: 1st from .3 (the /24 holds 3)" "$(lab_open w4 198.18.0.3)" ok
check_eq "wide: 1st from .4 refused: the /24 is full" "$(lab_open w5 198.18.0.4 25 "" 1.5)" timeout
check_eq "wide: another /24 is not affected" "$(lab_open w6 198.18.7.5)" ok
check "active_connections counts each connection once (4)" wait_for 30 active_is 4
check_eq "query shows the wide network's count" "$(lab_mx top --json | python3 -c 'import json,sys; print([s["active"] for s in json.load(sys.stdin)["sources"] if s["source"]=="198.18.0.0/24"][0])')" 3
reset_lab
exit 0
