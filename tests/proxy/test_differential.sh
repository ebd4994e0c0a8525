#!/bin/bash
# The proxy reads every command the way the MTA behind it does (no parser
# differential): a corpus of command spellings (blanks, tabs, case, blanks
# around the colon, trailing blanks, control characters, glued paths,
# pipelined mixes) sent once straight to a real Postfix smtpd and once
# through mxlimit-proxy in front of it, with [recipients] max = 2.
#  - the limit holds for every spelling: at most 2 recipients reach
#    Postfix per connection, and each recipient Postfix accepted through
#    the proxy is one the proxy counted (the held messages' recipients
#    are exactly the 250s the client saw);
#  - a spelling Postfix accepts is either read by the proxy as the same
#    command (counted) or refused by the proxy itself: never forwarded
#    uncounted;
#  - DATA spellings Postfix takes as DATA put the proxy in data mode, and
#    BDAT spellings give it the chunk size Postfix reads: the
#    content reaches Postfix line for line (command-like lines, a
#    dot-stuffed line, blanks) and nothing in it is read as a command.
# Needs Debian's postfix (a private instance, tests/proxy/postfix.sh).
. "$(dirname "$0")/pxlib.sh"
. "$PXDIR/postfix.sh"

if ! start_postfix; then
	fail "a private Postfix instance starts (see above)"
	exit 1
fi
ok "a private Postfix smtpd listens on 127.0.0.1:$PFX_PORT"

PX=$(free_port)
cat >"$TMP/diff.ini" <<EOF
[proxy]
listen = 127.0.0.1:$PX
backend = 127.0.0.1:$PFX_PORT
[recipients]
enabled = true
max = 2
EOF
start_proxy "$TMP/diff.ini" || fail "proxy starts"

# One line per case: KIND INDEX | direct reply code | codes through the proxy
# (the spellings are python literals: control characters stay readable here)
out=$(PFX_PORT=$PFX_PORT PX=$PX py '
import os
PFX, PX = int(os.environ["PFX_PORT"]), int(os.environ["PX"])
RCPT = ["RCPT TO:<{a}>", "RCPT  TO:<{a}>", "RCPT\tTO:<{a}>", "rcpt to:<{a}>", "Rcpt To:<{a}>",
        "RCPT TO: <{a}>", "RCPT TO:\t<{a}>", "RCPT TO:<{a}> ", "RCPT TO:<{a}>\t", " RCPT TO:<{a}>",
        "\tRCPT TO:<{a}>", "RCPT TO:{a}", "RCPT  \t TO:  <{a}>  ", "RCPT TO:<{a}> NOTIFY=NEVER",
        "RCPT TO:<{a}>   NOTIFY=NEVER\t", "RCPT\x0bTO:<{a}>", "RCPT\x0cTO:<{a}>", "RCPT TO :<{a}>",
        "RCPT TO<{a}>", "RCPT TO:<{a}>x", "RCPT:TO:<{a}>", "RCPTTO:<{a}>", "RCPT TO:<<{a}>>",
        "RCPT TO:<{a}> X=\"a b\"", "RCPT TO:<{a}>\rNOOP", "RCPT TO:<@relay.test:{a}>",
        "RCPT TO:<\"{l}\"@example.test>", "RCPT TO:  TO:<{a}>", "RCPT TO:<{a}> X=y\\ Z"]
MAIL = ["MAIL FROM:<s@sender.test>", "MAIL  FROM:<s@sender.test>", "MAIL\tFROM:<s@sender.test>",
        "mail from:<s@sender.test>", "MAIL FROM: <s@sender.test>", "MAIL FROM:<>", "MAIL\tFROM:<>",
        "MAIL FROM:s@sender.test", "MAIL FROM:<s@sender.test>  SIZE=100\tBODY=8BITMIME",
        "MAIL FROM :<s@sender.test>", "MAIL\x0bFROM:<s@sender.test>", " MAIL FROM:<s@sender.test> "]
DATA = ["DATA", "DATA\t", "DATA ", "data", "\tDATA", " DATA ", "DATA x", "DATA\x0b"]
BODY = ["RCPT TO:<body@example.test>", "MAIL FROM:<body@sender.test>", "DATA", "RSET",
        ".a dot-stuffed line", "QUIT", "tab\there  two  spaces  ", "RCPT  TO:<body2@example.test>"]
n = 0
def addr(i, k):
    return "d%d-%d@example.test" % (i, k), "d%d-%d" % (i, k)
def spell(t, i, k):
    a, l = addr(i, k)
    return t.replace("{a}", a).replace("{l}", l)
def direct(lines):
    c = Client(PFX)
    c.cmd("EHLO direct.test")
    codes = [c.cmd(x)[:3] for x in lines]
    c.send("QUIT\r\n")
    return codes
def body(c, tag):
    c.send("".join(("." + x if x.startswith(".") else x) + "\r\n" for x in BODY + [tag]) + ".\r\n")
    return c.code()
for i, t in enumerate(RCPT):
    d = direct(["MAIL FROM:<s@sender.test>", spell(t, i, 0)])[1]
    c = Client(PX)
    c.cmd("EHLO proxied.test")
    c.cmd("MAIL FROM:<s@sender.test>")
    codes = [c.cmd(spell(t, i, k))[:3] for k in range(3)]
    if "250" in codes:
        codes.append(c.cmd("DATA")[:3] + "/" + body(c, "rcpt-%d" % i))
    c.cmd("QUIT")
    print("rcpt", i, "|", d, "|", " ".join(codes), "|", repr(t))
for i, t in enumerate(MAIL):
    d = direct([t])[0]
    c = Client(PX)
    c.cmd("EHLO proxied.test")
    codes = [c.cmd(t)[:3]] + [c.cmd("RCPT TO:<m%d-%d@example.test>" % (i, k))[:3] for k in range(3)]
    if codes[1] == "250":
        codes.append(c.cmd("DATA")[:3] + "/" + body(c, "mail-%d" % i))
    c.cmd("QUIT")
    print("mail", i, "|", d, "|", " ".join(codes), "|", repr(t))
for i, t in enumerate(DATA):
    d = direct(["MAIL FROM:<s@sender.test>", "RCPT TO:<x@example.test>", t])[2]
    c = Client(PX)
    c.cmd("EHLO proxied.test")
    codes = [c.cmd("MAIL FROM:<s@sender.test>")[:3], c.cmd("RCPT TO:<data%d@example.test>" % i)[:3]]
    r = c.cmd(t)[:3]
    codes.append(r + "/" + body(c, "data-%d" % i) if r == "354" else r)
    codes.append(c.cmd("NOOP")[:3])  # still in step with the backend
    c.cmd("QUIT")
    print("data", i, "|", d, "|", " ".join(codes), "|", repr(t))
# BDAT spellings: the chunk follows the command at once (RFC 3030), so the
# proxy must read the size Postfix reads, or content becomes commands
BDAT = ["BDAT {n} LAST", "BDAT  {n}\tLAST", "bdat {n} last", "\tBDAT {n} LAST "]
for i, t in enumerate(BDAT):
    c = Client(PX)
    c.cmd("EHLO proxied.test")
    codes = [c.cmd("MAIL FROM:<s@sender.test>")[:3], c.cmd("RCPT TO:<bdat%d@example.test>" % i)[:3]]
    chunk = ("Subject: bdat\r\n\r\n" + "".join(x + "\r\n" for x in BODY + ["bdat-%d" % i])).encode()
    c.send(t.replace("{n}", str(len(chunk))).encode() + b"\r\n" + chunk)
    codes.append(c.code())
    codes.append(c.cmd("NOOP")[:3])
    c.cmd("QUIT")
    print("bdat", i, "| 250 |", " ".join(codes), "|", repr(t))
# pipelined: every spelling in one write, DATA last (RFC 2920)
c = Client(PX)
c.cmd("EHLO proxied.test")
c.send("MAIL\tFROM:<s@sender.test>\r\nRCPT  TO:<p1@example.test>\r\nRCPT\tTO:<p2@example.test>\r\n"
       "rcpt to:<p3@example.test>\r\nRCPT TO:p4@example.test\r\nDATA\t\r\n")
codes = [c.code() for _ in range(6)]
codes[-1] += "/" + body(c, "pipelined")
c.cmd("QUIT")
print("pipe 0 | - |", " ".join(codes), "| pipelined")
')
sed 's/^/# /' <<<"$out"

# RCPT and MAIL spellings: the limit holds; what Postfix accepts is counted
# or refused by the proxy, never passed uncounted
accepted=0 messages=0 bad_limit="" bad_count="" bad_refuse=""
while IFS='|' read -r kind direct codes spelling; do
	read -r k i <<<"$kind"
	direct=${direct// /}
	read -ra c <<<"$codes"
	n250=0
	for x in "${c[@]}"; do
		[ "${x:0:3}" = 250 ] && n250=$((n250 + 1))
		[ "${x#*/}" = 250 ] && [ "${x%/*}" = 354 ] && messages=$((messages + 1))
	done
	case $k in
	rcpt | mail)
		# the RCPT replies: codes 0-2 (rcpt) or 1-3 (mail)
		if [ "$k" = rcpt ]; then r="${c[*]:0:3}"; else r="${c[*]:1:3}"; fi
		[ "$k" = mail ] && [ "${c[0]}" != 250 ] && r=""
		rn=$(grep -o 250 <<<"$r" | wc -l)
		accepted=$((accepted + rn))
		[ "$rn" -le 2 ] || bad_limit+=" $k$i"
		[ "$rn" -gt 0 ] && [ "$r" != "250 250 452" ] && bad_count+=" $k$i($r)"
		# Postfix took the spelling: the proxy counted it or refused it
		if [ "$direct" = 250 ] && [ "$rn" = 0 ] && ! grep -Eq '^5(00|01) ' <<<"${c[*]}"; then
			bad_refuse+=" $k$i(${c[*]})"
		fi
		;;
	data)
		[ "${c[2]}" = 354/250 ] && accepted=$((accepted + 1))
		if [ "$direct" = 354 ]; then
			[ "${c[2]}" = 354/250 ] || [ "${c[2]:0:3}" = 501 ] || [ "${c[2]:0:3}" = 500 ] ||
				bad_refuse+=" data$i(${c[*]})"
		else
			[ "${c[2]:0:3}" != 354 ] || bad_refuse+=" data$i: proxy 354, Postfix $direct"
		fi
		[ "${c[3]}" = 250 ] || bad_count+=" data$i: out of step (${c[*]})"
		;;
	bdat)
		# the chunk was the message: queued, and the session in step
		[ "${c[*]}" = "250 250 250 250" ] || bad_count+=" bdat$i(${c[*]})"
		messages=$((messages + 1)) accepted=$((accepted + 1))
		;;
	pipe)
		check_eq "pipelined spellings: 250 250 250 452 452 354/250" "${c[*]}" \
			"250 250 250 452 452 354/250"
		accepted=$((accepted + 2))
		;;
	esac
done <<<"$out"
check_eq "every RCPT/MAIL/DATA/BDAT spelling ran" \
	"$(grep -c '^\(rcpt\|mail\|data\|bdat\|pipe\) ' <<<"$out")" 54
check_eq "the limit held for every spelling (never more than 2 recipients)" "$bad_limit" ""
check_eq "a spelling the proxy read was counted: 250 250 452" "$bad_count" ""
check_eq "a spelling Postfix took was counted or refused by the proxy" "$bad_refuse" ""
# the spellings of the reported bypass: counted, not merely refused
counted() { # SPELLING-PREFIX WANT: the case's proxy codes start with WANT
	local l
	l=$(grep -F "| '$1" <<<"$out" | head -1)
	[ -n "$l" ] && [[ $(cut -d'|' -f3 <<<"$l") == " $2"* ]]
}
check "'RCPT  TO:' (two spaces) is counted" counted 'RCPT  TO:<' "250 250 452"
check "'RCPT<TAB>TO:' is counted" counted 'RCPT\tTO:<' "250 250 452"
check "'MAIL  FROM:' opens a counted transaction" counted 'MAIL  FROM:<' "250 250 250 452"
check "'MAIL<TAB>FROM:' opens a counted transaction" counted 'MAIL\tFROM:<s' "250 250 250 452"
check "'DATA<TAB>' enters data mode" counted 'DATA\t' "250 250 354/250 250"

# what Postfix holds is exactly what the proxy let through
check_eq "every message the client saw queued is held" "$(pfx_held_count)" "$messages"
held=$(pfx_held_recipients)
check_eq "held recipients = the 250s the client saw through the proxy" \
	"$(grep -c . <<<"$held")" "$accepted"
check_eq "no line of a message body was read as a RCPT" "$(grep -c '^body' <<<"$held")" 0
bodies=$(pfx_held_bodies)
for line in 'RCPT TO:<body@example.test>' 'MAIL FROM:<body@sender.test>' 'DATA' 'RSET' \
	'.a dot-stuffed line' 'QUIT' $'tab\there  two  spaces  ' 'RCPT  TO:<body2@example.test>'; do
	check_eq "body line '$line' reached Postfix in every message" \
		"$(grep -cFx -- "$line" <<<"$bodies")" "$messages"
done
finish
