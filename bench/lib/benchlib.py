"""Shared by bench/lib/collect, bench/summarize, bench/gate and bench/report:
reading a run's results (run.json, schema in bench/README.md), statistics
over repeats, and the threshold rules of bench/gate.conf and bench/goals.conf.

Python 3 standard library only (Debian's /usr/bin/python3)."""

import json
import os
import re
import statistics

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(BENCH_DIR)


def load_run(run_dir):
    with open(os.path.join(run_dir, "run.json")) as f:
        return json.load(f)


def stats(values):
    """min/median/max of the numbers among values (None when there are none)."""
    nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not nums:
        return None
    return {"min": min(nums), "median": statistics.median(nums), "max": max(nums), "n": len(nums)}


def median_of(case, variant, figure, stat="median"):
    """A figure of one variant of a case, or None when it was not measured."""
    v = case.get("variants", {}).get(variant)
    if not v:
        return None
    s = v.get("summary", {}).get(figure)
    return None if s is None else s.get(stat)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


# ---- threshold rules: bench/gate.conf and bench/goals.conf ------------------
#
# One rule a line:   NAME  CASES  METRIC  OP  VALUE
#   CASES   comma-separated case ids (scenario names), or * for every
#           scenario case of the run
#   METRIC  VARIANT.FIGURE[.STAT]   a variant's summary figure, STAT one of
#                                   min, median (default), max
#           ratio.FIGURE            dedup median / baseline median of the
#                                   same case in the same run
#           pratio.FIGURE           median over repeats of dedup/baseline
#                                   of the same repeat (back-to-back pair)
#   OP      <= < >= > ==
RULE_RE = re.compile(r"^(\S+)\s+(\S+)\s+(\S+)\s+(<=|<|>=|>|==)\s+(\S+)$")
OPS = {
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "==": lambda a, b: a == b,
}


def load_rules(path):
    rules = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            m = RULE_RE.match(line)
            if not m:
                raise ValueError(f"{path}:{lineno}: not 'NAME CASES METRIC OP VALUE': {line}")
            name, cases, metric, op, value = m.groups()
            rules.append({"name": name, "cases": cases, "metric": metric, "op": op,
                          "value": float(value), "line": lineno})
    return rules


def paired_ratio(case, figure):
    """Median over repeats k of dedup's figure in repeat k / baseline's in
    repeat k. The two ran back to back (bench/run alternates their order),
    so a slow phase of the machine lands in both halves of a pair."""
    reps = {}
    for v in ("baseline", "dedup"):
        var = case.get("variants", {}).get(v)
        if not var:
            return None
        reps[v] = {r["repeat"]: r["figures"].get(figure) for r in var["repeats"] if r["ok"]}
    ratios = [ratio(reps["dedup"][k], reps["baseline"][k]) for k in reps["dedup"] if k in reps["baseline"]]
    s = stats([r for r in ratios if r is not None])
    return None if s is None else s["median"]


def metric_value(case, metric):
    parts = metric.split(".")
    if parts[0] == "ratio" and len(parts) == 2:
        return ratio(median_of(case, "dedup", parts[1]), median_of(case, "baseline", parts[1]))
    if parts[0] == "pratio" and len(parts) == 2:
        return paired_ratio(case, parts[1])
    if len(parts) == 2:
        return median_of(case, parts[0], parts[1])
    if len(parts) == 3 and parts[2] in ("min", "median", "max"):
        return median_of(case, parts[0], parts[1], parts[2])
    raise ValueError(f"bad metric '{metric}'")


def evaluate(rules, run):
    """One result per rule and case: name, case, metric, op, value, measured,
    met (False also when the figure is missing: a check that cannot be made
    is a check not passed)."""
    by_id = {c["id"]: c for c in run["cases"]}
    out = []
    for r in rules:
        if r["cases"] == "*":
            ids = [c["id"] for c in run["cases"] if c["kind"] == "scenario"]
        else:
            ids = r["cases"].split(",")
        for cid in ids:
            case = by_id.get(cid)
            measured = metric_value(case, r["metric"]) if case else None
            met = measured is not None and OPS[r["op"]](measured, r["value"])
            why = None
            if case is None:
                why = "case not in this run"
            elif measured is None:
                why = "not measured (failed or missing variant)"
            out.append({"name": r["name"], "case": cid, "metric": r["metric"], "op": r["op"],
                        "value": r["value"], "measured": measured, "met": met, "why": why})
    return out


def fmt_bytes(n):
    if n is None:
        return "-"
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n:.0f} B"


def fmt_num(x, digits=3):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)
