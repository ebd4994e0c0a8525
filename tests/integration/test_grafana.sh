#!/bin/bash
# The Grafana dashboard (contrib/grafana/mxlimit.json) against a live
# exporter: mxlimit loaded in a namespace lab, `mxlimit daemon --metrics`
# on a free port, a few connections, a refusal and a block so the counters
# move, one scrape of /metrics.  Then every PromQL expression of the
# dashboard (panel targets and the template variables' label_values()) is
# tokenized, and each metric name it uses must be a series of that scrape,
# each label it matches on, groups by or prints in a legend must be a label
# the exporter gives that metric (or instance/job, which Prometheus adds),
# and each literal `label="value"` a value it serves.  Also: valid JSON,
# schemaVersion 36+, the Prometheus data source variable, the instance
# variable, at least 6 panels, each on the data source variable.
# Finally the checker is shown to fail on modified copies (a metric, a label
# and a label value the exporter does not serve).
#   DASHBOARD=FILE  check another dashboard file (default the shipped one)
source "$(dirname "$0")/../lib.sh"
need_root "grafana dashboard lab"
source "$(dirname "$0")/lab.sh"

DASHBOARD=${DASHBOARD:-$ROOT/contrib/grafana/mxlimit.json}
check "dashboard file exists" [ -s "$DASHBOARD" ] || exit 1

# ---- the checker: dashboard JSON + a /metrics text -> TAP lines, exit 1 on
# any failure.  Standalone: python3 CHECKER DASHBOARD METRICS_FILE
CHECKER=$LAB_DIR/check_dashboard.py
cat >"$CHECKER" <<'PY'
import json, re, sys

DS_VAR = "${DS_PROMETHEUS}"
# labels Prometheus attaches to every scraped series (target labels)
TARGET_LABELS = {"instance", "job"}
FUNCTIONS = set("""
abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp
clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month
deg delta deriv double_exponential_smoothing exp floor histogram_avg histogram_count
histogram_fraction histogram_quantile histogram_stddev histogram_stdvar histogram_sum
holt_winters hour idelta increase info irate label_join label_replace last_over_time ln log10
log2 mad_over_time max_over_time min_over_time minute month pi predict_linear
present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort sort_by_label
sort_by_label_desc sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh time
timestamp vector year start end""".split())
AGGREGATIONS = set("sum min max avg group stddev stdvar count count_values bottomk topk quantile "
                   "limitk limit_ratio".split())
BINARY_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}

results = []


def tap(good, name, why=""):
    results.append(good)
    print(("ok - " if good else "not ok - ") + name + ("" if good or not why else " (%s)" % why))


# ---- the exposition text
def parse_metrics(text):
    """name -> {label: set(values)} for every sample line."""
    served = {}
    lab_re = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+\S+(?:\s+\S+)?\s*$', line)
        if not m:
            raise ValueError("unparsable exposition line: %r" % line)
        labels = served.setdefault(m.group(1), {})
        body = m.group(2) or ""
        pos = 0
        while pos < len(body):
            lm = lab_re.match(body, pos)
            if not lm:
                raise ValueError("unparsable labels: %r" % line)
            val = re.sub(r'\\(.)', lambda e: "\n" if e.group(1) == "n" else e.group(1), lm.group(2))
            labels.setdefault(lm.group(1), set()).add(val)
            pos = lm.end()
    return served


# ---- PromQL (with Grafana variables) -> tokens
TOKEN_RE = re.compile(r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<var>\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[A-Za-z0-9_:.]+\]\])
  | (?P<num>0[xX][0-9a-fA-F]+
       |(?:\d+(?:ms|[smhdwy]))+(?![A-Za-z0-9_])
       |(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^=<>@:,(){}\[\]])
""", re.X)


def tokenize(expr):
    toks, pos = [], 0
    while pos < len(expr):
        m = TOKEN_RE.match(expr, pos)
        if not m:
            raise ValueError("cannot tokenize at %r" % expr[pos:pos + 20])
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        text = m.group(kind)
        if kind == "ident" and text.lower() in ("inf", "nan"):
            kind = "num"
        toks.append((kind, text))
    return toks


def unquote(s):
    if s[0] == "`":
        return s[1:-1]
    return re.sub(r"\\(.)", lambda e: e.group(1), s[1:-1])


def analyse(expr):
    """-> (metrics, matchers [(metric, label, op, value)], grouping labels, problems)"""
    toks = tokenize(expr)
    metrics, matchers, grouping, problems = [], [], [], []
    i, n = 0, len(toks)

    def peek(k):
        return toks[k] if k < n else (None, None)

    def label_list(k):  # toks[k] is "(": the labels up to ")"; -> index after ")"
        k += 1
        while k < n and toks[k] != ("op", ")"):
            if toks[k][0] == "ident":
                grouping.append(toks[k][1])
            elif toks[k] != ("op", ","):
                problems.append("unexpected %r in a label list" % toks[k][1])
            k += 1
        return k + 1

    def selector(k, name):  # toks[k] is "{": the matchers; -> index after "}"
        k += 1
        found = []
        while k < n and toks[k] != ("op", "}"):
            if toks[k] == ("op", ","):
                k += 1
                continue
            lab, op, val = peek(k), peek(k + 1), peek(k + 2)
            if lab[0] != "ident" or op[0] != "op" or op[1] not in ("=", "!=", "=~", "!~") or \
                    val[0] not in ("str", "var"):
                problems.append("malformed label matcher near %r" % (lab[1],))
                return n
            found.append((lab[1], op[1], unquote(val[1]) if val[0] == "str" else val[1]))
            k += 3
        if name is None:  # {__name__="..."}
            names = [v for l, o, v in found if l == "__name__" and o == "="]
            if not names:
                problems.append("a selector without a literal metric name")
            name = names[0] if names else None
        if name is not None:
            metrics.append(name)
            for lab, op, val in found:
                if lab != "__name__":
                    matchers.append((name, lab, op, val))
        return k + 1

    while i < n:
        kind, text = toks[i]
        nxt = peek(i + 1)
        if kind == "ident":
            low = text.lower()
            if low in GROUPING:
                i = label_list(i + 1) if nxt == ("op", "(") else i + 1
            elif low in BINARY_KEYWORDS:
                i += 1
            elif low in AGGREGATIONS and (nxt == ("op", "(") or
                                          (nxt[0] == "ident" and nxt[1].lower() in ("by", "without"))):
                i += 1
            elif nxt == ("op", "("):
                if low not in FUNCTIONS:
                    problems.append("unknown function %s()" % text)
                i += 1
            elif nxt == ("op", "{"):
                i = selector(i + 1, text)
            else:
                metrics.append(text)
                i += 1
        elif (kind, text) == ("op", "{"):
            i = selector(i, None)
        elif (kind, text) == ("op", "["):  # a range or subquery: durations, variables
            depth = 0
            while i < n:
                if toks[i] == ("op", "["):
                    depth += 1
                elif toks[i] == ("op", "]"):
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            i += 1
        else:
            i += 1
    return metrics, matchers, grouping, problems


def check_expr(where, expr, served, extra_labels=()):
    """TAP lines for one expression; -> set of metric names it uses"""
    try:
        metrics, matchers, grouping, problems = analyse(expr)
    except ValueError as e:
        tap(False, "%s: PromQL tokenizes" % where, str(e))
        return set()
    for p in problems:
        tap(False, "%s: %s" % (where, p), expr)
    if not metrics:
        tap(False, "%s: names at least one metric" % where, expr)
    known = set(TARGET_LABELS)
    for m in metrics:
        if m in served:
            known |= set(served[m])
            tap(True, "%s: metric %s is served" % (where, m))
        else:
            tap(False, "%s: metric %s is served" % (where, m), "not in the live /metrics")
    for m, lab, op, val in matchers:
        labs = served.get(m, {})
        if lab not in labs and lab not in TARGET_LABELS:
            tap(False, "%s: %s has a label %s" % (where, m, lab),
                "its labels: %s" % (", ".join(sorted(labs)) or "none"))
        elif lab in labs and op == "=" and "$" not in val and val not in labs[lab]:
            tap(False, "%s: %s{%s=%r} is served" % (where, m, lab, val),
                "values: %s" % ", ".join(sorted(labs[lab])))
    for lab in list(grouping) + list(extra_labels):
        if lab not in known:
            tap(False, "%s: label %s is one of its metrics'" % (where, lab),
                "labels: %s" % ", ".join(sorted(known)))
    return set(metrics)


def main(dash_path, metrics_path):
    served = parse_metrics(open(metrics_path).read())
    tap("mxlimit_loaded" in served, "the scrape is mxlimit's (%d series names)" % len(served))
    try:
        dash = json.load(open(dash_path))
    except ValueError as e:
        tap(False, "dashboard is valid JSON", str(e))
        return 1
    tap(True, "dashboard is valid JSON")
    sv = dash.get("schemaVersion", 0)
    tap(isinstance(sv, int) and sv >= 36, "schemaVersion %s >= 36" % sv)

    variables = dash.get("templating", {}).get("list", [])
    dsv = [v for v in variables if v.get("type") == "datasource" and v.get("query") == "prometheus"]
    tap(any("${%s}" % v.get("name") == DS_VAR for v in dsv),
        "a Prometheus data source variable named DS_PROMETHEUS")
    used = set()

    def ds_ok(ds):
        return isinstance(ds, dict) and ds.get("uid") == DS_VAR and ds.get("type", "prometheus") == "prometheus"

    inst_ok = False
    for v in variables:
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        where = "variable $%s" % v.get("name")
        tap(ds_ok(v.get("datasource")), "%s: data source is %s" % (where, DS_VAR))
        m = re.match(r"^\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$", q, re.S)
        if not m:
            tap(False, "%s: a label_values(METRIC, LABEL) query" % where, q)
            continue
        used |= check_expr(where, m.group(1), served, [m.group(2)])
        if v.get("name") == "instance" and m.group(2) == "instance":
            inst_ok = True
    tap(inst_ok, "an instance variable from label_values(<metric>, instance)")

    def all_panels(ps):
        for p in ps:
            yield p
            yield from all_panels(p.get("panels", []))

    panels = [p for p in all_panels(dash.get("panels", [])) if p.get("type") != "row"]
    tap(len(panels) >= 6, "at least 6 panels (%d)" % len(panels))
    ids = [p.get("id") for p in panels]
    tap(len(set(ids)) == len(ids), "panel ids are unique")
    for p in panels:
        title = "panel %r" % p.get("title")
        tap(ds_ok(p.get("datasource")), "%s: data source is %s" % (title, DS_VAR),
            repr(p.get("datasource")))
        targets = [t for t in p.get("targets", []) if not t.get("hide")]
        tap(bool(targets) and all(t.get("expr", "").strip() for t in targets),
            "%s: has queries, each with an expression" % title)
        for t in targets:
            where = "%s %s" % (title, t.get("refId", "?"))
            if "datasource" in t and not ds_ok(t["datasource"]):
                tap(False, "%s: data source is %s" % (where, DS_VAR), repr(t["datasource"]))
            legend = re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", t.get("legendFormat", ""))
            used |= check_expr(where, t.get("expr", ""), served, legend)
    print("# the dashboard uses %d of the %d series names served" % (len(used & set(served)), len(served)))
    unused = sorted(set(served) - used)
    if unused:
        print("# served but not on the dashboard: " + " ".join(unused))
    return 0 if all(results) else 1


sys.exit(main(sys.argv[1], sys.argv[2]))
PY
check "checker parses" python3 -m py_compile "$CHECKER"

# ---- the lab and a live exporter
DLOG=$LAB_DIR/daemon.log
: >"$DLOG"
SOCK=$LAB_DIR/verdict.sock
lab_setup || { fail "lab setup"; exit 1; }
lab_server 25 || { fail "lab server"; exit 1; }
lab_client_start
lab_client_addr 198.18.0.4
C=$LAB_CLI4
pol=$(lab_policy grafana.ini <<'P'
[main]
ports = 25
[concurrency]
enabled = true
max = 1
P
)
lab_load_or_die "load" -i "$LAB_IF_SRV" -c "$pol"

# a free port in the server namespace (its own loopback; nothing else there)
MPORT=$(nsenter --net=/run/netns/$LAB_SRV python3 -c \
	'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
nsenter --net=/run/netns/$LAB_SRV "$MXLIMIT" --pin-dir "$LAB_PIN" daemon --socket "$SOCK" \
	--state "$LAB_DIR/state.gz" --metrics 127.0.0.1:$MPORT >>"$DLOG" 2>&1 &
DMN_PID=$!
on_exit "kill $DMN_PID 2>/dev/null"
LAB_PIDS="$LAB_PIDS $DMN_PID" # lab_teardown waits for it (bounded), then SIGKILL
started() { grep -q 'daemon ready' "$DLOG"; }
check "daemon with --metrics 127.0.0.1:$MPORT starts" wait_for 100 started ||
	{ sed 's/^/# /' "$DLOG"; exit 1; }

# traffic: one admitted connection (held), one refused by the concurrency
# limit, a block and a refused SYN from the blocked source, two verdicts
check_eq "a connection is admitted" "$(lab_open g1 $C)" ok
check_eq "a second is refused (concurrency max 1)" "$(lab_open g2 $C 25 "" 1)" timeout
check "block 198.18.0.4" lab_mx block 198.18.0.4 --ttl 600 --reason grafana
check_eq "the blocked source is refused" "$(lab_open g3 198.18.0.4 25 "" 1)" timeout
verdicts=$(printf 'QUERY %s\nHELLO\n' "$C" | timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read()); f = s.makefile("rb")
print(" ".join(f.readline().decode().split(" ")[0] for _ in range(2)))' "$SOCK")
check_eq "verdict socket: one ok, one err" "$verdicts" "OK ERR"

scrape() {
	timeout 15 nsenter --net=/run/netns/$LAB_SRV python3 -c '
import sys, urllib.request
r = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5)
sys.stdout.write(r.read().decode())' "$MPORT"
}
METRICS=$LAB_DIR/metrics.txt
metric() { awk -v k="$1" '$1 == k { print $2 }' "$METRICS"; }
active_is_1() { scrape >"$METRICS" && [ "$(metric mxlimit_active_connections)" = 1 ]; }
check "scrape /metrics (1 active connection)" wait_for 50 active_is_1
gt0() { [ -n "$1" ] && [ "$1" -gt 0 ] 2>/dev/null; }
check "the counters moved: admitted" gt0 "$(metric "mxlimit_admitted_total{iface=\"$LAB_IF_SRV\"}")"
check "the counters moved: refused_conc" gt0 "$(metric "mxlimit_refused_conc_total{iface=\"$LAB_IF_SRV\"}")"
check "the counters moved: refused_block" gt0 "$(metric "mxlimit_refused_block_total{iface=\"$LAB_IF_SRV\"}")"
check_eq "one block in force" "$(metric mxlimit_blocks)" 1
check_eq "one verdict ok" "$(metric 'mxlimit_daemon_verdicts_total{result="ok"}')" 1

# ---- the dashboard against that scrape
out=$(python3 "$CHECKER" "$DASHBOARD" "$METRICS" 2>&1); rc=$?
# the per-name lines are many: failures in full, passes counted
grep -v '^ok - ' <<<"$out"
echo "# $(grep -c '^ok - ' <<<"$out") checks of the dashboard passed"
check_eq "dashboard: every query names only served metrics and labels (exit status)" "$rc" 0

# ---- the checker fails on what the exporter does not serve
mutate() { # NAME PYTHON-EXPR-ON-s WANT-REGEX
	local bad=$LAB_DIR/bad.json o r
	python3 -c "import sys; s = open(sys.argv[1]).read(); s2 = $2; assert s2 != s, 'no change'; open(sys.argv[2], 'w').write(s2)" \
		"$DASHBOARD" "$bad" || { fail "checker self-test: $1 (could not modify the copy)"; return; }
	o=$(python3 "$CHECKER" "$bad" "$METRICS" 2>&1); r=$?
	if [ "$r" != 0 ] && grep -Eq "^not ok - .*$3" <<<"$o"; then
		ok "checker self-test: $1 fails"
	else
		fail "checker self-test: $1 fails (exit $r)"
		grep '^not ok' <<<"$o" | head -3 | sed 's/^/#   /'
	fi
}
mutate "a metric not served (mxlimit_blocks -> mxlimit_blocked)" \
	's.replace("mxlimit_blocks{", "mxlimit_blocked{", 1)' 'metric mxlimit_blocked is served'
mutate "a metric not served in label_values()" \
	's.replace("label_values(mxlimit_loaded,", "label_values(mxlimit_up,")' 'metric mxlimit_up is served'
mutate "Prometheus' own up (not the exporter's)" \
	's.replace("max by (instance) (mxlimit_loaded{", "max by (instance) (up{", 1)' 'metric up is served'
mutate "a label the metric does not have" \
	's.replace("sum by (instance, result) (rate(mxlimit_daemon_verdicts_total", "sum by (instance, reason) (rate(mxlimit_daemon_verdicts_total", 1)' \
	'label reason'
mutate "a label value not served" \
	's.replace("result=\\\"err\\\"", "result=\\\"failed\\\"", 1)' "result='failed'"

kill "$DMN_PID" 2>/dev/null
exit "$T_FAILED"
