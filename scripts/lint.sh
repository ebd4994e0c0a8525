#!/bin/bash
# Static analysis of the userspace C (user/): cppcheck and clang-tidy.
# Prints every finding as FILE:LINE: message [check] and exits 1 if there
# is any, 0 when both are clean, 2 when a tool is missing.
#   scripts/lint.sh                 both tools over user/
#   scripts/lint.sh user/lib        one directory (or files)
#   BUILD=build/x scripts/lint.sh   skeleton headers from there (make first)
#
# The configuration is small on purpose; each exclusion says why:
#   cppcheck --enable=warning,style,performance,portability
#     variableScope           style only: the code declares at the top of a
#                             block where that reads better (17 places)
#     missingInclude*         system, libnl and generated headers are left
#                             out: not needed for these checks, and the
#                             skeleton's embedded object makes cppcheck slow
#     LIBBPF_OPTS             a libbpf macro cppcheck cannot expand: defined
#                             for it below
#   clang-tidy clang-analyzer-*, bugprone-*, except
#     insecureAPI.DeprecatedOrUnsafeBufferHandling  asks for C11 Annex K
#                             memcpy_s & co., which glibc does not have
#     optin.performance.Padding   layout advice, not a defect
#     bugprone-easily-swappable-parameters  API shape, not a defect
#     bugprone-narrowing-conversions  fires on every char arithmetic after
#                             C's integer promotions; -Wall -Wextra and
#                             UBSan cover the real cases
#     bugprone-implicit-widening-of-multiplication-result  small constant
#                             products (1024 * 1024) everywhere
#     bugprone-suspicious-string-compare  `!strcmp(a, b)` is the house idiom
#     sizeof-expression on a pointer to aggregate off: calloc(n,
#                             sizeof(*array_of_pointers)) is the intent
# Only findings located in user/ count (the analyzer follows paths into
# generated skeleton headers).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
paths=("$@")
[ ${#paths[@]} -eq 0 ] && paths=(user)

for tool in cppcheck clang-tidy; do
	command -v "$tool" >/dev/null || { echo "lint: $tool not installed (apt-get install $tool)" >&2; exit 2; }
done
if [ ! -f "$BUILD/mxlimit.skel.h" ]; then
	echo "lint: $BUILD/mxlimit.skel.h missing: run 'make BUILD=$BUILD' first" >&2
	exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
INCS=(-Iinclude -Iuser/lib -Iuser/smtp -Iuser/mxlimit -Iuser/proxy -Iuser/policyd -I"$BUILD" -I/usr/include/libnl3)

cat >"$tmp/mxlimit.cfg" <<'EOF'
<?xml version="1.0"?>
<def format="2">
  <define name="LIBBPF_OPTS(TYPE, NAME, ...)" value="struct TYPE NAME = {0}"/>
</def>
EOF

# cppcheck
cppcheck --enable=warning,style,performance,portability --std=c11 --inline-suppr -q \
	-j "$JOBS" -D_GNU_SOURCE -Iinclude -Iuser/lib -Iuser/smtp -Iuser/mxlimit -Iuser/proxy -Iuser/policyd --library="$tmp/mxlimit.cfg" \
	--suppress=missingIncludeSystem --suppress=missingInclude --suppress=variableScope \
	--template='{file}:{line}: {severity}: {message} [cppcheck {id}]' \
	"${paths[@]}" 2>"$tmp/cppcheck.out"
grep -E '^user/' "$tmp/cppcheck.out" >"$tmp/cppcheck.found"

# clang-tidy, one file per process, JOBS at a time
CHECKS='-*,clang-analyzer-*,bugprone-*'
CHECKS+=',-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling'
CHECKS+=',-clang-analyzer-optin.performance.Padding'
CHECKS+=',-bugprone-easily-swappable-parameters,-bugprone-narrowing-conversions'
CHECKS+=',-bugprone-implicit-widening-of-multiplication-result,-bugprone-suspicious-string-compare'
CONFIG="{CheckOptions: [{key: bugprone-sizeof-expression.WarnOnSizeOfPointerToAggregate, value: false}]}"
find "${paths[@]}" -name '*.c' | sort |
	xargs -P "$JOBS" -I{} sh -c 'clang-tidy --quiet --checks="$1" --config="$2" "$3" -- \
		-std=gnu11 -D_GNU_SOURCE $4 >"$5/tidy.$(echo "$3" | tr / _)" 2>/dev/null' \
		sh "$CHECKS" "$CONFIG" {} "${INCS[*]}" "$tmp"
cat "$tmp"/tidy.* 2>/dev/null | grep -E '^(/[^:]*/)?user/[^:]+:[0-9]+:[0-9]+: (warning|error):' |
	sed "s|^$ROOT/||" | sort -u >"$tmp/tidy.found"

cat "$tmp/cppcheck.found" "$tmp/tidy.found"
n=$(cat "$tmp/cppcheck.found" "$tmp/tidy.found" | wc -l)
echo "lint: $(wc -l <"$tmp/cppcheck.found") cppcheck, $(wc -l <"$tmp/tidy.found") clang-tidy finding(s) in ${paths[*]}"
[ "$n" -eq 0 ]
