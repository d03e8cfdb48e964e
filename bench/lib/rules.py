"""bench/thresholds.conf: every threshold of cowdump in one file, read here
and nowhere else (the gate, collect, report and the tests' `thresholds get`
all come through this module).

Two kinds of section:

  rule sections, [gate] and [goals], one rule a line:
      NAME  CASES  METRIC  OP  VALUE  [if METRIC OP VALUE]
    CASES   * for every scenario case of the run, or a comma list of case
            ids and shell patterns (fanout, tasks@*); A/B compares two
            cases: METRIC in case A divided by METRIC in case B
    METRIC  VARIANT.FIGURE[.min|.median|.max]   a variant's summary figure
            ratio.FIGURE    dedup median / baseline median, same case
            pratio.FIGURE   median of per-repeat dedup/baseline pairs
            case.NAME       a figure of the case itself (run.json
                            cases[].derived: e.g. dedup_dump_rss_excess_over_unique)
    OP      <= < >= > ==
    VALUE   a number, or the name of a value below (bounds.image-over-ideal)
    if ...  the rule applies only to cases meeting this condition
  value sections, [bounds], [tests], [report]: 'key = value' lines, read
    as thresholds.get("section.key").

A figure that was not measured is a missed rule, never a met one. In
[goals] a case the run did not measure is left out (a goal is about the
cases a matrix has); in [gate] it is missed."""

import fnmatch
import re

import benchlib

RULE_SECTIONS = ("gate", "goals")
VALUE_SECTIONS = ("bounds", "tests", "report")
RULE_RE = re.compile(r"^(\S+)\s+(\S+)\s+(\S+)\s+(<=|<|>=|>|==)\s+(\S+)"
                     r"(?:\s+if\s+(\S+)\s+(<=|<|>=|>|==)\s+(\S+))?$")
OPS = {
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "==": lambda a, b: a == b,
}
# Rules on these figures are wall-time rules: the gate measures a miss of
# only such rules once more before it counts (bench/README.md).
WALL_TIME = re.compile(r"dump_s|restore_s|_per_s")


def number(path, lineno, text, values=None):
    """A number, or (in a rule) the name of a value of a value section."""
    try:
        return float(text)
    except ValueError:
        if values is not None and text in values:
            return values[text]
        raise benchlib.ConfError(f"{path}:{lineno}: '{text}' is not a number"
                                 + ("" if values is None else " nor a value's name"))


def load(path=None):
    """{"rules": {section: [rule]}, "values": {"section.key": float}}."""
    path = path or benchlib.THRESHOLDS_CONF
    sections = benchlib.read_sections(path)
    out = {"rules": {s: [] for s in RULE_SECTIONS}, "values": {}}
    for sec, lines in sections.items():
        if sec in VALUE_SECTIONS:
            for lineno, text in lines:
                key, value = benchlib.key_value(path, sec, lineno, text)
                out["values"][f"{sec}.{key}"] = number(path, lineno, value)
        elif sec not in RULE_SECTIONS:
            raise benchlib.ConfError(f"{path}: unknown section [{sec}] "
                                     f"(known: {', '.join(RULE_SECTIONS + VALUE_SECTIONS)})")
    for sec, lines in sections.items():
        if sec in RULE_SECTIONS:
            for lineno, text in lines:
                m = RULE_RE.match(text)
                if not m:
                    raise benchlib.ConfError(
                        f"{path}:{lineno}: not 'NAME CASES METRIC OP VALUE [if METRIC OP VALUE]': {text}")
                name, cases, metric, op, value, cmetric, cop, cvalue = m.groups()
                rule = {"name": name, "section": sec, "cases": cases, "metric": metric, "op": op,
                        "value": number(path, lineno, value, out["values"]), "line": lineno, "condition": None,
                        "wall_time": bool(WALL_TIME.search(metric))}
                if cmetric:
                    rule["condition"] = {"metric": cmetric, "op": cop,
                                         "value": number(path, lineno, cvalue, out["values"])}
                out["rules"][sec].append(rule)
    return out


def get(thresholds, key):
    if key not in thresholds["values"]:
        raise benchlib.ConfError(f"thresholds.conf has no value '{key}'")
    return thresholds["values"][key]


def metric_value(case, metric):
    parts = metric.split(".")
    if parts[0] == "ratio" and len(parts) == 2:
        return benchlib.ratio(benchlib.median_of(case, "dedup", parts[1]),
                              benchlib.median_of(case, "baseline", parts[1]))
    if parts[0] == "pratio" and len(parts) == 2:
        return benchlib.paired_ratio(case, parts[1])
    if parts[0] == "case" and len(parts) == 2:
        return (case.get("derived") or {}).get(parts[1])
    if len(parts) == 2:
        return benchlib.median_of(case, parts[0], parts[1])
    if len(parts) == 3 and parts[2] in ("min", "median", "max"):
        return benchlib.median_of(case, parts[0], parts[1], parts[2])
    raise benchlib.ConfError(f"bad metric '{metric}'")


def case_targets(spec, run):
    """[(label, measure)] for a CASES field: measure(metric) -> value, or
    None as the label's measure when no such case is in the run."""
    by_id = {c["id"]: c for c in run["cases"]}
    if spec == "*":
        return [(c["id"], c) for c in run["cases"] if c["kind"] == "scenario"]
    out = []
    for item in spec.split(","):
        if "/" in item:
            a, b = item.split("/", 1)
            pair = (by_id.get(a), by_id.get(b))
            out.append((item, pair if all(pair) else None))
            continue
        ids = [cid for cid in by_id if fnmatch.fnmatchcase(cid, item)]
        out += [(cid, by_id[cid]) for cid in ids] or [(item, None)]
    return out


def measure(target, metric):
    if isinstance(target, tuple):
        return benchlib.ratio(metric_value(target[0], metric), metric_value(target[1], metric))
    return metric_value(target, metric)


def evaluate(rules, run):
    """One result per rule and case: name, section, case, metric, op, value,
    measured, met, why, wall_time. A rule whose condition does not hold for
    a case is left out; so is a goal whose case the run did not measure."""
    out = []
    for r in rules:
        for label, target in case_targets(r["cases"], run):
            why = None
            if target is None:
                if r["section"] == "goals":
                    continue
                why = "case not in this run"
            cond = r["condition"]
            if target is not None and cond:
                cv = measure(target, cond["metric"])
                if cv is not None and not OPS[cond["op"]](cv, cond["value"]):
                    continue
                if cv is None:
                    why = f"condition {cond['metric']} not measured"
            measured = measure(target, r["metric"]) if target is not None else None
            if why is None and measured is None:
                why = "not measured (failed or missing variant)"
            met = why is None and OPS[r["op"]](measured, r["value"])
            out.append({"name": r["name"], "section": r["section"], "case": label, "metric": r["metric"],
                        "op": r["op"], "value": r["value"], "measured": measured, "met": met, "why": why,
                        "wall_time": r["wall_time"],
                        "condition": None if not cond else f"{cond['metric']} {cond['op']} {cond['value']:g}"})
    return out
