"""Shared by every Python part of bench/ (plan, collect, check-thresholds,
thresholds, summarize, plot, report, gate): the one reader of bench's
config files (bench/matrix.conf, bench/thresholds.conf), of the scenario
catalogue (through cowtree) and of a run's results (run.json, schema in
bench/README.md), and the statistics over repeats.

Python 3 standard library only (Debian's /usr/bin/python3)."""

import glob
import json
import os
import re
import statistics
import subprocess

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(BENCH_DIR)
MATRIX_CONF = os.path.join(BENCH_DIR, "matrix.conf")
THRESHOLDS_CONF = os.path.join(BENCH_DIR, "thresholds.conf")
COWTREE = os.path.join(ROOT, "build", "bin", "cowtree")


KEY_VALUE_RE = re.compile(r"^(\S+)\s*=\s*(.*)$")


class ConfError(ValueError):
    """A config file that cannot be read or parsed; str() is one line."""


# ---- config files: [section] then lines --------------------------------------

def read_sections(path):
    """{section: [(lineno, text)]}: every non-blank line of an INI-like file,
    comments (from '#') removed. Lines before any [section] are an error."""
    sections, cur = {}, None
    try:
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                text = line.split("#", 1)[0].strip()
                if not text:
                    continue
                if text.startswith("[") and text.endswith("]"):
                    cur = text[1:-1].strip()
                    sections.setdefault(cur, [])
                elif cur is None:
                    raise ConfError(f"{path}:{lineno}: a line before any [section]: {text}")
                else:
                    sections[cur].append((lineno, text))
    except OSError as e:
        raise ConfError(f"{path}: {e.strerror}")
    return sections


def key_value(path, section, lineno, text):
    """(key, value) of a 'key = value' line; a key may hold '=' itself
    (variants.shared@size=4G = dedup): the key is the longest word
    before an '='."""
    m = KEY_VALUE_RE.match(text)
    if not m:
        raise ConfError(f"{path}:{lineno}: [{section}]: not 'key = value': {text}")
    return m.group(1), m.group(2).strip()


# ---- the scenario catalogue ---------------------------------------------------

def dashed(d):
    """Keys with '_' as '-' (the catalogue's and cowtree's option spelling)."""
    return {k.replace("_", "-"): v for k, v in (d or {}).items()}


def catalogue(cowtree=None, scenario_dir=None):
    """{name: entry} from `cowtree --list-scenarios --json`: every scenario
    with its purpose, resolved parameters, what each build must do with it
    (expect.baseline / expect.dedup: {restore: shared|copy, why}) and its
    bounds. The catalogue files are read by cowtree alone."""
    cmd = [cowtree or os.environ.get("BENCH_COWTREE") or COWTREE, "--list-scenarios", "--json"]
    if scenario_dir:
        cmd += ["--scenario-dir", scenario_dir]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except OSError as e:
        raise ConfError(f"{cmd[0]}: {e.strerror} (make tools)")
    if r.returncode != 0:
        err = (r.stderr.strip().splitlines() or ["no message"])[-1]
        raise ConfError(f"cowtree --list-scenarios --json failed: {err}")
    try:
        entries = json.loads(r.stdout)
    except ValueError as e:
        raise ConfError(f"cowtree --list-scenarios --json: not JSON: {e}")
    out = {}
    for e in entries:
        e["params"] = dashed(e.get("params"))
        e["bounds"] = dashed(e.get("bounds"))
        out[e["name"]] = e
    return out


# ---- a run's results ------------------------------------------------------------

def load_run(run_dir):
    """run.json of a run directory. A run older than machine.page_size gets
    the page size its trees reported (their ready lines, under raw/)."""
    with open(os.path.join(run_dir, "run.json")) as f:
        run = json.load(f)
    m = run.setdefault("machine", {})
    if not m.get("page_size"):
        for path in sorted(glob.glob(os.path.join(run_dir, "raw", "*", "*", "r*", "ready.json"))):
            ps = (read_json(path) or {}).get("page_size")
            if ps:
                m["page_size"] = ps
                break
    return run


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def stats(values):
    """min/median/max of the numbers among values (None when there are none)."""
    nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not nums:
        return None
    return {"min": min(nums), "median": statistics.median(nums), "max": max(nums), "n": len(nums)}


def median_of(case, variant, figure, stat="median"):
    """A figure of one variant of a case, or None when it was not measured."""
    if not case:
        return None
    v = case.get("variants", {}).get(variant)
    if not v:
        return None
    s = v.get("summary", {}).get(figure)
    return None if s is None else s.get(stat)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def paired_ratio(case, figure, num="dedup", den="baseline"):
    """Median over repeats k of num's figure in repeat k / den's in repeat k.
    The two ran back to back (bench/run alternates their order), so a slow
    phase of the machine lands in both halves of a pair."""
    reps = {}
    for v in (num, den):
        var = case.get("variants", {}).get(v)
        if not var:
            return None
        reps[v] = {r["repeat"]: r["figures"].get(figure) for r in var["repeats"] if r["ok"]}
    ratios = [ratio(reps[num][k], reps[den][k]) for k in reps[num] if k in reps[den]]
    s = stats([r for r in ratios if r is not None])
    return None if s is None else s["median"]


def page_size(run):
    """The run's page size (machine.page_size: collect records it)."""
    ps = run.get("machine", {}).get("page_size")
    if not ps:
        raise ConfError("the run records no page size")
    return ps


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
