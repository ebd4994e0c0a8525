#!/bin/bash
# Bash completion (contrib/bash-completion/mxlimit): commands and options
# compared with the help texts (a command or option added without its
# completion fails here), interface names, policy files, --pin-dir before
# and after the command, and the blocked prefixes `unblock` and `query`
# offer, read from a fake `mxlimit --json blocks` on PATH.
# Every case runs twice: with bash-completion's helpers (if installed) and
# with the script's own fallback.  Needs no root, no BPF, no namespace.
# suite-lane: pool (no namespace, pin dir or port: beside the labs)
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C

SCRIPT=$ROOT/contrib/bash-completion/mxlimit
BASH_COMPLETION=${BASH_COMPLETION:-/usr/share/bash-completion/bash_completion}
check "completion script exists and parses" bash -n "$SCRIPT" || exit 1

tmp=$(mktemp -d)
on_exit rm -rf "$tmp"

# --- what the help texts list
# commands: the "Commands:" block of `mxlimit --help`
help_commands() {
	"$MXLIMIT" --help | awk '/^Commands:/ { f = 1; next } f && /^$/ { exit } f { print $1 }' | sort -u
}
# options of help texts on stdin: every option in the usage line(s) and
# every option at the start of an indented line (the option table), each
# printed after the name of its text (a line "@@ NAME" starts a text)
help_options() {
	awk '
	function out(o) { print name, o }
	/^@@ / { name = $2; u = 0; next }
	/^[Uu]sage:/ { u = 1; out("@usage") }
	u && /^[ \t]*$/ { u = 0 }
	u {
		s = $0
		while (match(s, /(^|[ [|])--?[A-Za-z0-9][A-Za-z0-9-]*/)) {
			t = substr(s, RSTART, RLENGTH); sub(/^[ [|]/, "", t); out(t)
			s = substr(s, RSTART + RLENGTH)
		}
		next
	}
	/^[ \t]+-/ {
		s = $0; sub(/^[ \t]+/, "", s)
		if (match(s, /^-[A-Za-z0-9]([ ,]|$)/)) { out(substr(s, 1, 2)); s = substr(s, 3); sub(/^, */, "", s) }
		if (match(s, /^--[A-Za-z0-9][A-Za-z0-9-]*/)) out(substr(s, RSTART, RLENGTH))
	}'
}
commands=$(help_commands)
# every help text: the global options (the "Global options" block of
# `mxlimit --help`), each command's, mxlimit-proxy's and mxlimit-policyd's
declare -A opts_of usage_of
while read -r name o; do
	if [ "$o" = @usage ]; then
		usage_of[$name]=1
	else
		opts_of[$name]+=" $o"
	fi
done < <({
	echo "@@ global"
	"$MXLIMIT" --help | awk '/^Global options/ { f = 1; next } f && /^$/ { exit } f'
	for c in $commands; do
		echo "@@ $c"
		"$MXLIMIT" "$c" --help
	done
	echo "@@ mxlimit-proxy"
	"$MXPROXY" --help
	echo "@@ mxlimit-policyd"
	"$MXPOLICYD" --help
} | help_options)
globals=${opts_of[global]-}
# --version stands apart in the help (first, instead of a command): it is
# offered before a command only
if "$MXLIMIT" --help | grep -qE '^  --version +print the version \(first'; then
	globals=$(printf '%s\n' $globals --version | sort -u | tr '\n' ' ')
	globals=${globals% }
fi
for c in $commands mxlimit-proxy mxlimit-policyd; do
	[ -n "${usage_of[$c]-}" ] || fail "no usage line in the help of $c"
done
check "mxlimit --help lists the commands" [ "$(echo "$commands" | wc -l)" -ge 12 ]
check "mxlimit --help lists the global options" [ "$(echo "$globals" | wc -w)" -ge 4 ]
# after a command every global option but --version applies: --version is
# taken only in front of a command (`mxlimit status --version` exits 2)
globals_after=" $globals "
globals_after=${globals_after/ --version / }

# --- the completion driver
# One bash per mode reads the cases (fields separated by \x1f: environment
# assignments, then the words of the line) and completes each in a
# subshell: the last word is completed, the line being the words joined by
# blanks.  It prints COMPREPLY, one a line, then a \x1e line.
# MODE bc: with bash-completion's helpers; plain: without them.
# COMP_WORDS is split as readline does: at blanks and at runs of ':' and '='.
# sortu WORD...: REPLY = the WORDs sorted, unique, one a line (no fork)
sortu() {
	local -a a=()
	local x i n
	for x in "$@"; do
		[ -z "$x" ] && continue
		n=${#a[@]}
		for ((i = 0; i < n; i++)); do
			[[ ${a[i]} < $x ]] || break
		done
		[[ $i -lt $n && ${a[i]} == "$x" ]] && continue
		a=("${a[@]:0:i}" "$x" "${a[@]:i}")
	done
	REPLY=
	((${#a[@]})) && printf -v REPLY '%s\n' "${a[@]}"
	REPLY=${REPLY%$'\n'}
}
DRIVER=$tmp/driver.sh
{ declare -f sortu; cat <<'DRIVER_END'; } >"$DRIVER"
set +u
mode=$1; script=$2; bc=$3
if [ "$mode" = bc ]; then
	source "$bc" >/dev/null 2>&1 || exit 3
else
	COMP_WORDBREAKS=$' \t\n"'"'"'><=;|&(:'
fi
source "$script"
complete_line() {
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMP_WORDS=()
	local w spec fn r
	for w in "$@"; do
		while [[ $w =~ ^([^:=]*)([:=]+)(.*)$ ]]; do
			[ -n "${BASH_REMATCH[1]}" ] && COMP_WORDS+=("${BASH_REMATCH[1]}")
			COMP_WORDS+=("${BASH_REMATCH[2]}")
			w=${BASH_REMATCH[3]}
		done
		[ -n "$w" ] && COMP_WORDS+=("$w")
	done
	# the word under the cursor: empty after a blank
	case $COMP_LINE in *' ') COMP_WORDS+=("") ;; esac
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	fn=${fn_of[$1]}
	[ -n "$fn" ] || { echo "NO COMPLETION FOR $1"; return; }
	COMPREPLY=()
	"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
	sortu "${COMPREPLY[@]}"
	[ -n "$REPLY" ] && printf '%s\n' "$REPLY"
}
declare -A fn_of
for p in mxlimit mxlimit-proxy mxlimit-policyd; do
	spec=$(complete -p "$p" 2>/dev/null) || continue
	fn=${spec#*-F }
	fn_of[$p]=${fn%% *}
done
while IFS=$'\x1f' read -r -a f; do
	if [ -n "${f[0]}" ]; then
		(
			export "${f[0]}"
			complete_line "${f[@]:1}"
		)
	else
		complete_line "${f[@]:1}"
	fi
	printf '\x1e\n'
done
DRIVER_END

# case_eq NAME WANT ENV WORD... : COMPREPLY (as a sorted set) is WANT
# case_has NAME WANT ENV WORD... : COMPREPLY holds WANT
c_kind=() c_name=() c_want=() c_line=()
add_case() {
	local kind=$1 name=$2 want=$3 env=$4 w line=
	shift 4
	for w in "$@"; do line+=$'\x1f'$w; done
	set -f
	# shellcheck disable=SC2086 # WANT is a list of words
	sortu $want
	set +f
	c_kind+=("$kind") c_name+=("$name") c_want+=("$REPLY")
	c_line+=("$env$line"$'\x1f')
}
case_eq() { add_case eq "$@"; }
case_has() { add_case has "$@"; }
# start_cases MODE: run every case in one bash, in the background, with
# the fake's log in $tmp/fake.MODE.log
start_cases() {
	printf '%s\n' "${c_line[@]}" | FAKE_LOG=$tmp/fake.$1.log \
		bash --norc --noprofile "$DRIVER" "$1" "$SCRIPT" "$BASH_COMPLETION" >"$tmp/out.$1" &
}
# report_cases MODE: report each case's answer
report_cases() {
	local mode=$1 i=0 got='' l
	while IFS= read -r l; do
		if [ "$l" = $'\x1e' ]; then
			got=${got%$'\n'}
			if [ "${c_kind[i]}" = eq ] && [ "$got" = "${c_want[i]}" ]; then
				ok "$mode: ${c_name[i]}"
			elif [ "${c_kind[i]}" = has ] && [[ $'\n'$got$'\n' == *$'\n'"${c_want[i]}"$'\n'* ]]; then
				ok "$mode: ${c_name[i]}"
			else
				fail "$mode: ${c_name[i]}: got [${got//$'\n'/ }], want ${c_kind[i]} [${c_want[i]//$'\n'/ }]"
			fi
			got=
			i=$((i + 1))
		else
			got+=$l$'\n'
		fi
	done <"$tmp/out.$mode"
	[ "$i" = "${#c_line[@]}" ] || fail "$mode: the driver answered $i of ${#c_line[@]} cases"
}

# --- files the cases use
mkdir -p "$tmp/pol/sub" "$tmp/txt" "$tmp/pins/a" "$tmp/bin"
: >"$tmp/pol/limit.ini"
: >"$tmp/pol/notes.txt"
: >"$tmp/txt/readme.txt"
: >"$tmp/pins/file"
# a fake mxlimit: the real `--json blocks` answer (one compact line, as
# user/mxlimit/json.c writes it; the shape is docs/JSON.md's) with a prefix
# that has both a block and a penalty, and an IPv6 prefix; the pretty form
# of docs/JSON.md for --pin-dir $tmp/pins; records its arguments; exits
# $FAKE_RC after $FAKE_SLEEP seconds
cat >"$tmp/bin/mxlimit" <<EOF
#!/bin/bash
echo "\$*" >>"\$FAKE_LOG"
sleep \${FAKE_SLEEP:-0}
[ "\${FAKE_RC:-0}" = 0 ] || { echo "mxlimit: mxlimit is not loaded" >&2; exit \$FAKE_RC; }
case "\$*" in
"--pin-dir $tmp/pins --json blocks")
	cat <<'J'
{ "sanctions": [
  { "prefix": "192.0.2.0/24", "kind": "block", "expires_in": "59m59s",
    "expires_in_s": 3598, "reason": "spam" }
] }
J
	;;
"--json blocks")
	echo '{"sanctions":[{"prefix":"198.51.100.0/24","kind":"block","expires_in":"never","reason":"manual"},{"prefix":"203.0.113.7","kind":"block","expires_in":"9m59s","expires_in_s":599,"reason":"spam"},{"prefix":"203.0.113.7","kind":"penalty","expires_in":"9m59s","expires_in_s":599,"reason":"recipients","limit":"bad tier"},{"prefix":"2001:db8::/32","kind":"penalty","expires_in":"1m","expires_in_s":60,"reason":"errors","limit":"1"}]}'
	;;
"--json blocklist list")
	echo '{"loaded":true,"blocklists":[{"name":"drop","prefixes":1234,"loaded_at":1764936000,"refused":7,"source":"/var/cache/mxlimit/blocklist-drop.txt"},{"name":"edrop","prefixes":99,"loaded_at":1764936000,"refused":0,"source":"/tmp/e.txt"}]}'
	;;
*) exit 2 ;;
esac
EOF
chmod +x "$tmp/bin/mxlimit"
export PATH="$tmp/bin:$PATH"
ifaces=$(ls /sys/class/net)

modes=(plain)
if [ -r "$BASH_COMPLETION" ] && bash --norc --noprofile -c "source '$BASH_COMPLETION'" >/dev/null 2>&1; then
	modes=(bc plain)
else
	skip "completion with bash-completion's helpers" "$BASH_COMPLETION missing (Debian package bash-completion)"
fi

# --- the cases
# commands and options, compared with the help texts
case_eq "commands = mxlimit --help's" "$commands" "" mxlimit ''
case_eq "commands after a global option" "$commands" "" mxlimit --json ''
case_eq "commands after --pin-dir DIR" "$commands" "" mxlimit --pin-dir /tmp ''
case_eq "global options before the command = mxlimit --help's" "$globals" "" mxlimit -
for c in $commands; do
	case_eq "$c: options = mxlimit $c --help's + global" "${opts_of[$c]-} $globals_after" "" mxlimit "$c" -
done
want=
for o in ${opts_of[load]-} $globals_after; do
	[[ $o == --* ]] && want+=" $o"
done
case_eq "load --: the long options" "$want" "" mxlimit load --
case_eq "options after --pin-dir DIR before the command" "${opts_of[status]-} $globals_after" "" mxlimit --pin-dir /tmp status -
case_eq "--mode values" "auto native generic" "" mxlimit load -i lo --mode ''
for p in mxlimit-proxy mxlimit-policyd; do
	case_eq "$p: options = $p --help's" "${opts_of[$p]-}" "" $p -
	case_eq "$p -c: the .ini file" "$tmp/pol/limit.ini $tmp/pol/sub" "" $p -c "$tmp/pol/"
done

# interfaces
case_has "load -i offers lo" lo "" mxlimit load -i ''
case_eq "load -i: every interface of /sys/class/net" "$ifaces" "" mxlimit load -i ''
case_eq "load --interface l: lo" "$(echo "$ifaces" | grep '^l')" "" mxlimit load --interface l
case_has "unload -i offers lo" lo "" mxlimit unload -i ''
case_has "doctor -i offers lo (after --pin-dir)" lo "" mxlimit doctor --pin-dir /tmp -i ''
case_has "-i after another option" lo "" mxlimit load -c /etc/x.ini -i l

# policy files: *.ini (and directories) first, every file when no .ini
case_eq "load -c: the .ini file, not the .txt" "$tmp/pol/limit.ini $tmp/pol/sub" "" mxlimit load -c "$tmp/pol/"
case_eq "check -c: a prefix of the .ini" "$tmp/pol/limit.ini" "" mxlimit check -c "$tmp/pol/l"
case_eq "reload --config: the .ini" "$tmp/pol/limit.ini $tmp/pol/sub" "" mxlimit reload --config "$tmp/pol/"
case_eq "daemon -c: the .ini" "$tmp/pol/limit.ini $tmp/pol/sub" "" mxlimit daemon -c "$tmp/pol/"
case_eq "-c without any .ini: every file" "$tmp/txt/readme.txt" "" mxlimit load -c "$tmp/txt/"
case_eq "--state: every file" "$tmp/pol/limit.ini $tmp/pol/notes.txt $tmp/pol/sub" "" mxlimit daemon --state "$tmp/pol/"

# --pin-dir: directories, before and after the command, also as --pin-dir=DIR
case_eq "--pin-dir before the command: directories" "$tmp/pins/a" "" mxlimit --pin-dir "$tmp/pins/"
case_eq "--pin-dir after the command: directories" "$tmp/pins/a" "" mxlimit status --pin-dir "$tmp/pins/"
case_eq "--pin-dir=DIR: directories" "$tmp/pins/a" "" mxlimit "--pin-dir=$tmp/pins/"
case_eq "nothing for --ttl" "" "" mxlimit block 192.0.2.1 --ttl ''
case_eq "top -d is --interval: nothing to complete" "" "" mxlimit top -d ''

# unblock / query: the prefixes in force, from `mxlimit --json blocks`
case_eq "unblock: the blocked and penalized prefixes" \
	"198.51.100.0/24 203.0.113.7 2001:db8::/32" "" mxlimit unblock ''
case_eq "unblock 198.: the matching one" "198.51.100.0/24" "" mxlimit unblock 198.
case_eq "unblock 2001:db8: (IPv6: the part after the last ':')" ":/32" "" mxlimit unblock 2001:db8:
case_eq "query: the addresses" "198.51.100.0 203.0.113.7 2001:db8::" "" mxlimit query ''
case_eq "unblock after --json: the same" \
	"198.51.100.0/24 203.0.113.7 2001:db8::/32" "" mxlimit --json unblock ''
case_eq "unblock honours --pin-dir DIR given before" "192.0.2.0/24" "" mxlimit --pin-dir "$tmp/pins" unblock ''
case_eq "unblock honours --pin-dir after the command" "192.0.2.0/24" "" mxlimit unblock --pin-dir "$tmp/pins" ''
case_eq "query honours --pin-dir=DIR" "192.0.2.0" "" mxlimit "--pin-dir=$tmp/pins" query 192.
case_eq "nothing once the prefix is given" "" "" mxlimit unblock 203.0.113.7 ''
case_eq "nothing for block" "" "" mxlimit block ''
case_eq "unblock: nothing when mxlimit fails" "" FAKE_RC=1 mxlimit unblock ''
case_eq "query: nothing when mxlimit fails" "" FAKE_RC=1 mxlimit query ''

# blocklist: its commands, the loaded sets, the list file, --dir
case_eq "blocklist: its commands" "load list remove" "" mxlimit blocklist ''
case_eq "blocklist remove: the loaded sets" "drop edrop" "" mxlimit blocklist remove ''
case_eq "blocklist load e: the loaded set it starts (to replace it)" "edrop" "" mxlimit blocklist load e
case_eq "blocklist load NAME: the list file" "$tmp/txt/readme.txt" "" mxlimit blocklist load drop "$tmp/txt/"
case_eq "blocklist list: nothing more" "" "" mxlimit blocklist list ''
case_eq "blocklist --dir: directories" "$tmp/pins/a" "" mxlimit blocklist --dir "$tmp/pins/"
case_eq "load --blocklist-dir: directories" "$tmp/pins/a" "" mxlimit load --blocklist-dir "$tmp/pins/"

# every mode at once, and a hung mxlimit (once: it costs 2 s)
for m in "${modes[@]}"; do
	start_cases "$m"
done
saved=("${c_kind[@]}") saved_n=("${c_name[@]}") saved_w=("${c_want[@]}") saved_l=("${c_line[@]}")
c_kind=() c_name=() c_want=() c_line=()
case_eq "unblock: nothing when mxlimit hangs" "" FAKE_SLEEP=5 mxlimit unblock ''
t0=$EPOCHREALTIME
start_cases hang
wait $!
t1=$EPOCHREALTIME
report_cases hang
check "and the completion returned within 4 s" [ $(((${t1/./} - ${t0/./}) / 1000000)) -lt 4 ]
wait
c_kind=("${saved[@]}") c_name=("${saved_n[@]}") c_want=("${saved_w[@]}") c_line=("${saved_l[@]}")
for m in "${modes[@]}"; do
	report_cases "$m"
	check "$m: the fake was asked with the pin dir" grep -qxF -- "--pin-dir $tmp/pins --json blocks" "$tmp/fake.$m.log"
done
exit "$T_FAILED"
