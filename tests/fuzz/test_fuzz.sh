#!/bin/bash
# libFuzzer targets for the parsers that read untrusted bytes: the policy
# file (fuzz_policy), SMTP commands/replies/DATA (fuzz_smtp), PROXY
# protocol headers (fuzz_proxy_proto), verdict requests (fuzz_verdict),
# blocklist files (fuzz_blocklist), and fuzz_smtp_diff: the command parser
# against a model of Postfix's smtpd tokenizer (tests/fuzz/smtp_diff.h).
#
# Each target is built with clang -fsanitize=fuzzer,address,undefined from
# tests/fuzz/fuzz_NAME.c plus the parsers' sources ($SRCS) into $BUILD/fuzz/, its
# committed seeds (tests/fuzz/corpus/NAME/, regressions included) are
# replayed, then it fuzzes for FUZZ_SECONDS (default 10) with leak
# detection, two targets at a time.  A crash, leak, UB report or timeout is
# a failure and the reproducer path is printed.  New inputs go to
# $BUILD/fuzz/work/NAME (kept between runs), never into the committed
# corpus; copy an interesting one there by hand with a name saying why.
#   FUZZ_SECONDS=300 bash tests/fuzz/test_fuzz.sh     a longer run
#   FUZZ_TARGETS="smtp verdict" ...                   some targets only
source "$(dirname "$0")/../lib.sh"
cd "$ROOT"
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
FUZZ_CC=${FUZZ_CC:-clang}
OUT=$ROOT/$BUILD/fuzz
FLAGS=(-g -O1 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -Iuser/lib -Iuser/smtp
	-Iuser/mxlimit -Iuser/proxy -Iuser/policyd -fno-omit-frame-pointer -fno-sanitize-recover=all)
# What the targets read untrusted bytes with: the shared library, the SMTP
# engine, the controller's policy compiler and printer, the proxy's PROXY
# protocol code (no sockets, no BPF in any of them).
SRCS=(user/lib/*.c user/smtp/*.c user/mxlimit/policy_compile.c user/mxlimit/policy_print.c
	user/mxlimit/json.c user/proxy/proxy_proto.c user/policyd/pd_request.c user/policyd/pd_session.c
	user/policyd/pd_decide.c user/mxlimit/blocklist_parse.c)
# ...but not the Redis client and its counter glue: network I/O (hiredis)
SRCS=($(printf '%s\n' "${SRCS[@]}" | grep -v -e '/redis_client\.c$' -e '/rate_redis\.c$'))
SAN=-fsanitize=address,undefined
targets=(${FUZZ_TARGETS:-policy smtp smtp_diff proxy_proto verdict policyd blocklist})

if ! command -v "$FUZZ_CC" >/dev/null ||
	! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; (void)n; return 0; }' |
	"$FUZZ_CC" -x c - -fsanitize=fuzzer -o /dev/null 2>/dev/null; then
	skip "fuzz targets" "$FUZZ_CC cannot build libFuzzer targets (libclang-rt-dev missing?)"
	exit 0
fi
mkdir -p "$OUT/obj" "$OUT/artifacts" "$OUT/work"

# $SRCS once, instrumented for coverage; rebuilt when any source or header
# is newer than the stamp.
build_common() {
	local stamp=$OUT/obj/.stamp newer
	newer=$(find user include -newer "$stamp" -name '*.[ch]' 2>/dev/null | head -1)
	[ -f "$stamp" ] && [ -z "$newer" ] && return 0
	rm -f "$OUT"/obj/*.o
	printf '%s\n' "${SRCS[@]}" | xargs -P 2 -I{} sh -c \
		'"$0" "$@" -c {} -o "'"$OUT"'/obj/$(basename {} .c).o"' "$FUZZ_CC" "${FLAGS[@]}" \
		"$SAN" -fsanitize=fuzzer-no-link || return 1
	touch "$stamp"
}

build_target() { # name
	local n=$1
	[ "$OUT/fuzz_$n" -nt "tests/fuzz/fuzz_$n.c" ] && [ "$OUT/fuzz_$n" -nt "$OUT/obj/.stamp" ] &&
		[ -z "$(find tests/fuzz -name '*.h' -newer "$OUT/fuzz_$n")" ] && return 0
	"$FUZZ_CC" "${FLAGS[@]}" "$SAN" -fsanitize=fuzzer "tests/fuzz/fuzz_$n.c" "$OUT"/obj/*.o \
		-o "$OUT/fuzz_$n"
}

# fuzz NAME: replay the seeds, then fuzz; writes $OUT/NAME.log and .rc
fuzz() {
	local n=$1 dict=() rc
	[ -f "tests/fuzz/$n.dict" ] && dict=(-dict="tests/fuzz/$n.dict")
	mkdir -p "$OUT/work/$n"
	rm -f "$OUT/artifacts/$n-"*
	{
		# every committed seed once: regressions stay fixed
		"$OUT/fuzz_$n" -artifact_prefix="$OUT/artifacts/$n-" -detect_leaks=1 -timeout=10 \
			tests/fuzz/corpus/"$n"/* && echo "seeds replayed clean" &&
		"$OUT/fuzz_$n" "$OUT/work/$n" "tests/fuzz/corpus/$n" "${dict[@]}" \
			-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
			-detect_leaks=1 -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$n-"
	} >"$OUT/$n.log" 2>&1
	rc=$?
	echo "$rc" >"$OUT/$n.rc"
}

report() { # name
	local n=$1 rc runs art
	rc=$(cat "$OUT/$n.rc" 2>/dev/null || echo 99)
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/$n.log" | grep -o '[0-9]*$')
	if [ "$rc" = 0 ]; then
		ok "fuzz_$n: seeds clean, ${runs:-?} runs in ${FUZZ_SECONDS}s, no crash, leak or UB"
		return
	fi
	fail "fuzz_$n (exit $rc)"
	grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$OUT/$n.log" | head -8 | sed 's/^/# /'
	for art in "$OUT/artifacts/$n-"*; do
		[ -f "$art" ] || continue
		echo "# reproducer: $art"
		echo "#   replay: $OUT/fuzz_$n $art"
	done
}

if ! build_common; then
	fail "build common sources with $FUZZ_CC"
	exit 1
fi
ready=()
for n in "${targets[@]}"; do
	if build_target "$n" >"$OUT/$n.build" 2>&1; then
		ready+=("$n")
	else
		fail "build fuzz_$n"
		sed 's/^/# /' "$OUT/$n.build" | head -20
	fi
done

# Two at a time (two cores here); each bounded by FUZZ_SECONDS plus the
# seed replay, and any single input by -timeout.
pids=()
for ((i = 0; i < ${#ready[@]}; i += 2)); do
	pids=()
	for n in "${ready[@]:i:2}"; do
		fuzz "$n" &
		pids+=($!)
		on_exit "kill ${pids[-1]}"
	done
	for p in "${pids[@]}"; do wait "$p"; done
	for n in "${ready[@]:i:2}"; do report "$n"; done
done
exit 0
