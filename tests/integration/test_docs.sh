#!/bin/bash
# The manuals stay in step with the commands: every command `mxlimit --help`
# lists has an entry in mxlimit(8) and a row in the README's command table,
# every long option of every `mxlimit COMMAND --help` is in mxlimit(8) and
# in the README (short options have their long forms listed once), and
# every long option of mxlimit-proxy and mxlimit-policyd is in their man
# pages; the other way round, every command mxlimit(8) describes is one
# `mxlimit --help` lists.  Needs the built binaries only.
# suite-lane: pool (no namespace, pin dir or port: beside the labs)
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C

MAN8=$ROOT/docs/mxlimit.8
README=$ROOT/README.md
for f in "$MXLIMIT" "$MXPROXY" "$MXPOLICYD"; do
	[ -x "$f" ] || { fail "built: $f"; exit 1; }
done

# troff spells a dash \-
troff() { sed 's/-/\\-/g' <<<"$1"; }
# long options in a help text, without --help itself
longopts() { grep -oE -- '--[a-z][a-z0-9-]+' | grep -vx -- '--help' | sort -u; }

cmds=$("$MXLIMIT" --help | awk '/^Commands:/ { f = 1; next } /^$/ { f = 0 } f { print $1 }')
check "mxlimit --help lists commands" test "$(wc -w <<<"$cmds")" -ge 10
# the commands mxlimit(8) describes: the ".B NAME ..." tag of each .TP entry
# of its COMMANDS section
mancmds=$(sed -n '/^\.SH COMMANDS/,/^\.SH /p' "$MAN8" |
	awk 'tp && /^\.B [a-z]/ { print $2 } { tp = ($0 == ".TP") }' | sort -u)
for c in $cmds; do
	check "mxlimit(8) describes '$c'" grep -qx "$c" <<<"$mancmds"
	check "README's command table has '$c'" grep -qE "^\| \`mxlimit $c( |\`)" "$README"
	missing= rmissing=
	for o in $("$MXLIMIT" "$c" --help 2>&1 | longopts); do
		grep -qF -- "$(troff "$o")" "$MAN8" || missing="$missing $o"
		grep -qF -- "$o" "$README" || rmissing="$rmissing $o"
	done
	check "mxlimit(8) has every option of '$c --help'${missing:+ (missing:$missing)}" test -z "$missing"
	check "README has every option of '$c --help'${rmissing:+ (missing:$rmissing)}" test -z "$rmissing"
done
for c in $mancmds; do
	check "mxlimit(8)'s '$c' is a command" grep -qx "$c" <<<"$cmds"
done
for b in proxy policyd; do
	bin=$ROOT/$BUILD/mxlimit-$b man=$ROOT/docs/mxlimit-$b.8 missing=
	for o in $("$bin" --help 2>&1 | longopts); do
		grep -qF -- "$(troff "$o")" "$man" || missing="$missing $o"
	done
	check "mxlimit-$b(8) has every option of its --help${missing:+ (missing:$missing)}" test -z "$missing"
done
exit $T_FAILED
