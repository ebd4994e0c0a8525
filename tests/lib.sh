# tests/lib.sh - helpers for shell tests: TAP output, unique names, cleanup.
# Source it first; it sets `set -u`, defines ok/fail/skip/check and a trap
# that runs every registered cleanup (also when the test fails or is killed).
set -u
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MXLIMIT=${MXLIMIT:-$ROOT/$BUILD/mxlimit}
MXPROXY=${MXPROXY:-$ROOT/$BUILD/mxlimit-proxy}
MXPOLICYD=${MXPOLICYD:-$ROOT/$BUILD/mxlimit-policyd}
# Unique per run: several suites may run on one machine.
TEST_ID=${TEST_ID:-$$$(printf '%04x' $((RANDOM)))}
T_FAILED=0
_cleanups=()

ok()   { echo "ok - $*"; }
fail() { echo "not ok - $*"; T_FAILED=1; }
skip() { echo "ok - $1 # SKIP ${2:-}"; }
# check NAME COMMAND...: ok when the command succeeds.
check() { local n=$1; shift; if "$@"; then ok "$n"; else fail "$n"; fi; }
# check_eq NAME GOT WANT
check_eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1 (got '$2', want '$3')"; fi; }

on_exit() { _cleanups+=("$*"); }
_run_cleanups() {
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[i]}" >/dev/null 2>&1 || true
	done
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM

need_root() {
	if [ "$(id -u)" != 0 ]; then skip "$1" "needs root"; exit 0; fi
}
