#!/bin/bash
# Where mxlimit-proxy and haraka-plugin-limit 1.3.2 (Haraka 3.3.4) differ on
# the same limit.ini: one check per difference listed in limit.ini(5)
# COMPATIBILITY (H1 ... H12 there), so the documented behaviour cannot
# drift.  Each scenario names what haraka would do in a comment.
# Clients use distinct loopback sources (127.0.0.x) to get fresh counters.
. "$(dirname "$0")/pxlib.sh"

CAP=$(free_port)
start_capture "$CAP" "$TMP/cap"

# proxy_with NAME <<EOF policy EOF: a proxy on a fresh port; sets $PX.
proxy_with() {
	PX=$(free_port)
	{
		printf '[proxy]\nlisten = 127.0.0.1:%s\nbackend = 127.0.0.1:%s\n' "$PX" "$CAP"
		cat
	} >"$TMP/$1.ini"
	start_proxy "$TMP/$1.ini"
}

# --- H1: haraka's shipped defaults are not inherited unless asked for ---
cat >"$TMP/h1.ini" <<'EOF'
[errors]
enabled = true
[rate_rcpt_null]
enabled = true
EOF
out=$("$MXLIMIT" check -c "$TMP/h1.ini" 2>&1 >/dev/null)
check "H1: check names the shipped max = 10 haraka would add to [errors]" \
	grep -q '\[errors\] has no "max": haraka-plugin-limit would apply its shipped max = 10' <<<"$out"
check "H1: ... the shipped [rate_rcpt_null] default = 1" \
	grep -q '\[rate_rcpt_null\] has no "default": .*shipped default = 1' <<<"$out"
check "H1: ... and tarpit_delay = 3" grep -q 'shipped tarpit_delay = 3' <<<"$out"
proxy_with h1 <<'EOF'
[main]
haraka_defaults = yes
tarpit_delay = 0
[errors]
enabled = true
EOF
out=$(py "
c = Client($PX, src='127.0.0.21')
print(' '.join(c.cmd('RCPT TO:<a@b>')[:3] for _ in range(11)))
print(c.closed())
")
check_eq "H1: with haraka_defaults = yes, [errors] max = 10: the 11th error ends it" \
	"$(tr '\n' ' ' <<<"$out")" "503 503 503 503 503 503 503 503 503 503 421 True "

# --- H2: [unrecognized_commands] and [errors] are separate counters ---
# (haraka also counts each unrecognized command as an error)
proxy_with h2 <<'EOF'
[errors]
enabled = true
max = 1
[unrecognized_commands]
enabled = true
max = 10
EOF
out=$(py "
c = Client($PX, src='127.0.0.22')
print(c.cmd('FOO')[:3], c.cmd('BAR')[:3], c.cmd('BAZ')[:3], c.cmd('NOOP')[:3])
print(c.cmd('RCPT TO:<a@b>')[:3], c.cmd('RCPT TO:<a@b>')[:9])
")
check_eq "H2: three unknown verbs with [errors] max = 1: the session goes on" \
	"$(sed -n 1p <<<"$out")" "502 502 502 250"
check_eq "H2: errors count on their own: the 2nd error ends it" \
	"$(sed -n 2p <<<"$out")" "503 421 4.7.0"

# --- H3: the error over the limit is replaced by 421 at once ---
# (haraka answers it, and refuses the next HELO/MAIL/RCPT/DATA with 450)
proxy_with h3 <<'EOF'
[errors]
enabled = true
max = 2
EOF
out=$(py "
c = Client($PX, src='127.0.0.23')
print(c.cmd('RCPT TO:<a@b>')[:3], c.cmd('DATA')[:3], c.cmd('RCPT TO:<c@d>')[:9])
print(c.closed())
")
check_eq "H3: 503 503, then the third error's reply is 421 4.7.0, closed" \
	"$(tr '\n' ' ' <<<"$out")" "503 503 421 4.7.0 True "

# --- H4: every 501 counts, an unparsable address too ---
# (haraka does not count "501 Invalid address")
out=$(py "
c = Client($PX, src='127.0.0.24')
c.cmd('EHLO x')
print(c.cmd('MAIL FROM:<a@b')[:9], c.cmd('MAIL FROM:<a b@c>')[:9], c.cmd('MAIL FROM:a<b@c')[:9])
print(c.closed())
")
check_eq "H4: unreadable senders are errors: 501, 501, the third (max = 2) 421" \
	"$(tr '\n' ' ' <<<"$out")" "501 5.1.7 501 5.1.7 421 4.7.0 True "

# --- H5: [recipients] counts recipients forwarded, not attempts ---
# (haraka counts every RCPT, those a rate limit refused too)
# --- H6: [recipients] honours lookups (haraka reads only max) ---
proxy_with h5 <<'EOF'
[recipients]
enabled = true
max = 2
127.0.0.26 = 0
[rate_rcpt]
enabled = true
default = 1/1m
EOF
out=$(py "
c = Client($PX, src='127.0.0.25')
c.cmd('EHLO x'); c.cmd('MAIL FROM:<s@x.test>')
print(' '.join(c.cmd('RCPT TO:<%s@y.test>' % r)[:3] for r in ['a', 'a', 'b', 'c']))
c = Client($PX, src='127.0.0.26')
c.cmd('EHLO x'); c.cmd('MAIL FROM:<s@x.test>')
print(' '.join(c.cmd('RCPT TO:<u%d@z.test>' % i)[:3] for i in range(5)))
")
check_eq "H5: a recipient refused by a rate limit uses no [recipients] slot" \
	"$(sed -n 1p <<<"$out")" "250 450 250 452"
check_eq "H6: '127.0.0.26 = 0' in [recipients]: unlimited for that client" \
	"$(sed -n 2p <<<"$out")" "250 250 250 250 250"

# --- H7: the null sender is not counted under [rate_rcpt_sender] ---
# (haraka counts every bounce in one shared counter under default)
# --- H8: sender counters fold case: one counter for User@Example.COM ---
proxy_with h7 <<'EOF'
[rate_rcpt_sender]
enabled = true
default = 1/1m
EOF
out=$(py "
c = Client($PX, src='127.0.0.27')
c.cmd('EHLO x'); c.cmd('MAIL FROM:<>')
print(' '.join(c.cmd('RCPT TO:<b%d@y.test>' % i)[:3] for i in range(3)))
c.cmd('RSET'); c.cmd('MAIL FROM:<User@Example.COM>')
print(c.cmd('RCPT TO:<r1@y.test>')[:3])
c.cmd('RSET'); c.cmd('MAIL FROM:<user@example.com>')
print(c.cmd('RCPT TO:<r2@y.test>')[:3])
")
check_eq "H7: null sender: 3 recipients pass a 1/1m [rate_rcpt_sender]" \
	"$(sed -n 1p <<<"$out")" "250 250 250"
check_eq "H8: <User@Example.COM> and <user@example.com> share one counter" \
	"$(sed -n 2,3p <<<"$out" | tr '\n' ' ')" "250 450 "

# --- H9: [rate_rcpt_host] refuses the recipient over the limit (450) and
# keeps the session (haraka counts during a session and refuses the *next*
# connection with 421) ---
# --- H10: a refused recipient is not counted in any rate section ---
# (haraka's earlier sections keep their increments when a later one refuses)
proxy_with h9 <<'EOF'
[rate_rcpt_host]
enabled = true
default = 3/1m
[rate_rcpt]
enabled = true
default = 1/1m
EOF
out=$(py "
c = Client($PX, src='127.0.0.29')
c.cmd('EHLO x'); c.cmd('MAIL FROM:<s@x.test>')
print(' '.join(c.cmd('RCPT TO:<%s@y.test>' % r)[:3] for r in ['a', 'a', 'a', 'b', 'c', 'd']))
print(c.cmd('NOOP')[:3])
")
check_eq "H9/H10: host 3/1m: a, (a, a refused by [rate_rcpt], not counted), b, c pass, d 450" \
	"$(sed -n 1p <<<"$out")" "250 450 450 250 250 450"
check_eq "H9: the session goes on after the rate refusal" "$(sed -n 2p <<<"$out")" 250

# --- H11: the tarpit holds every later reply, not only the refusal ---
# (haraka delays only its limit's own refusal, 3 s by its shipped default)
proxy_with h11 <<'EOF'
[main]
tarpit_delay = 1
[recipients]
enabled = true
max = 1
EOF
out=$(py "
import time
c = Client($PX, src='127.0.0.31')
c.cmd('EHLO x'); c.cmd('MAIL FROM:<s@x.test>')
print(c.cmd('RCPT TO:<a@y.test>')[:3])
t = time.monotonic(); r = c.cmd('RCPT TO:<b@y.test>')[:3]; d1 = time.monotonic() - t
t = time.monotonic(); n = c.cmd('NOOP')[:3]; d2 = time.monotonic() - t
print(r, d1 >= 0.9, n, d2 >= 0.9)
")
check_eq "H11: the refusal and the NOOP after it are both held (>= 1 s each)" \
	"$(tr '\n' ' ' <<<"$out")" "250 452 True 250 True "

# --- H12: an unrecognized command counts once (haraka 1.3.2 counts each
# one twice: max = 3 closes on the second) ---
proxy_with h12 <<'EOF'
[unrecognized_commands]
enabled = true
max = 3
EOF
out=$(py "
c = Client($PX, src='127.0.0.32')
print(' '.join(c.cmd('X%d' % i)[:3] for i in range(4)))
print(c.closed())
")
check_eq "H12: max = 3: three unknown verbs pass, the 4th is 421" \
	"$(tr '\n' ' ' <<<"$out")" "502 502 502 421 True "

# --- names in [rate_rcpt_host] do not match yet; check says so ---
printf '[rate_rcpt_host]\nenabled = true\nmail.example.test = 5/1m\ndefault = 10/1m\n' >"$TMP/rdns.ini"
check "a reverse-DNS name in [rate_rcpt_host]: check warns it never matches" \
	grep -q 'mail.example.test" in \[rate_rcpt_host\] never matches' \
	<<<"$("$MXLIMIT" check -c "$TMP/rdns.ini" 2>&1 >/dev/null)"
finish
