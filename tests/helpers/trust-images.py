#!/usr/bin/python3
"""Edit and inspect CRIU image directories for the dedup trust tests.

Run with PYTHONPATH set to the lib/ directory of the CRIU build under test
(its pycriu knows PE_COW, PE_COW_REF, ref_pid and ref_vaddr). Every command
works on real images dumped by that build; nothing here invents an image.

  drop-task DIR PID        PID leaves the snapshot: its pstree entry goes,
                           its children are reparented to its parent, its
                           per-task images (*-PID.img, its pages) are removed
  to-parent DIR PID        every pagemap entry of PID becomes PE_PARENT (its
                           data is in the parent snapshot), its pages emptied
  set-version DIR N        inventory img_version = N
  set-uptime DIR           inventory dump_uptime = now: what a pre-dump
                           writes, and what `dump --prev-images-dir` needs
                           from its parent snapshot (pid-reuse detection)
  bad DIR CASE             make one pagemap of DIR bad; prints the pagemap
                           file and the text the restore error must hold
  check-referenced ORIG DIR
                           the pages that marks of ORIG name (followed to
                           the data) still hold in DIR what they held in
                           ORIG; prints "N bytes referenced, M damaged"
  marks DIR                pages marked (PE_COW, PE_COW_REF) in DIR

Exit: 0 done, 1 check failed, 2 bad use or unreadable image.
"""
import glob
import os
import sys
import time

import pycriu

PE_PARENT, PE_LAZY, PE_PRESENT, PE_COW, PE_COW_REF = 1, 2, 4, 8, 16
PAGE = 4096


def die(msg):
    print(f"trust-images: {msg}", file=sys.stderr)
    sys.exit(2)


def load(path):
    try:
        with open(path, "rb") as f:
            return pycriu.images.load(f)
    except (OSError, Exception) as e:  # pycriu raises bare Exception
        die(f"{path}: {e}")


def save(path, img):
    with open(path + ".tmp", "wb") as f:
        pycriu.images.dump(img, f)
    os.rename(path + ".tmp", path)


def pagemap_path(d, pid):
    return os.path.join(d, f"pagemap-{pid}.img")


class Snapshot:
    """The pagemaps of one image directory, and where each page's data is."""

    def __init__(self, d):
        self.d = d
        self.parent_of = {e["pid"]: e["ppid"] for e in load(os.path.join(d, "pstree.img"))["entries"]}
        self.pms = {}
        for p in glob.glob(os.path.join(d, "pagemap-[0-9]*.img")):
            pid = int(os.path.basename(p)[len("pagemap-"):-len(".img")])
            self.pms[pid] = load(p)["entries"]

    def pages_file(self, pid):
        return os.path.join(self.d, f"pages-{self.pms[pid][0]['pages_id']}.img")

    def entry_at(self, pid, vaddr):
        """(entry, offset in the pages image of its first page) holding vaddr."""
        off = 0
        for e in self.pms.get(pid, [])[1:]:
            end = e["vaddr"] + e["nr_pages"] * PAGE
            if e["vaddr"] <= vaddr < end:
                return e, off
            if e.get("flags", 0) & PE_PRESENT:
                off += e["nr_pages"] * PAGE
        return None, None

    def holder(self, pid, e, vaddr):
        """The task and address a marked page names."""
        ref_pid = e.get("ref_pid") or self.parent_of.get(pid)  # an old build's PE_COW: the parent
        if e["flags"] & PE_COW_REF:
            return ref_pid, e["ref_vaddr"] + (vaddr - e["vaddr"])
        return ref_pid, vaddr

    def data_of(self, pid, vaddr, depth=0):
        """(pages file, offset) of a page, following marks; None if not in this snapshot."""
        if depth > 64:
            return None
        e, off = self.entry_at(pid, vaddr)
        if e is None:
            return None
        if e.get("flags", 0) & PE_PRESENT:
            return self.pages_file(pid), off + (vaddr - e["vaddr"])
        if e.get("flags", 0) & (PE_COW | PE_COW_REF):
            return self.data_of(*self.holder(pid, e, vaddr), depth + 1)
        return None

    def marked_pages(self):
        for pid, ents in sorted(self.pms.items()):
            for e in ents[1:]:
                if e.get("flags", 0) & (PE_COW | PE_COW_REF):
                    for i in range(e["nr_pages"]):
                        yield pid, e["vaddr"] + i * PAGE


def cmd_drop_task(d, pid):
    pid = int(pid)
    ps_path = os.path.join(d, "pstree.img")
    ps = load(ps_path)
    me = [e for e in ps["entries"] if e["pid"] == pid]
    if not me:
        die(f"{ps_path}: no task {pid}")
    for e in ps["entries"]:
        if e["ppid"] == pid:
            e["ppid"] = me[0]["ppid"]
    ps["entries"].remove(me[0])
    save(ps_path, ps)
    pages = Snapshot(d).pages_file(pid)
    for f in glob.glob(os.path.join(d, f"*-{pid}.img")) + [pages]:
        os.unlink(f)


def cmd_to_parent(d, pid):
    path = pagemap_path(d, pid)
    pm = load(path)
    for e in pm["entries"][1:]:
        e["flags"] = PE_PARENT
        e.pop("ref_pid", None)
        e.pop("ref_vaddr", None)
    save(path, pm)
    open(os.path.join(d, f"pages-{pm['entries'][0]['pages_id']}.img"), "wb").close()


def edit_inventory(d, **fields):
    path = os.path.join(d, "inventory.img")
    inv = load(path)
    inv["entries"][0].update(fields)
    save(path, inv)


def cmd_set_version(d, n):
    edit_inventory(d, img_version=int(n))


def cmd_set_uptime(d):
    edit_inventory(d, dump_uptime=int(time.clock_gettime(time.CLOCK_BOOTTIME) * 1000000))


def split_page(ents, vaddr):
    """Split the entry holding vaddr so that the page is an entry of its own; return its index."""
    for i, e in enumerate(ents):
        if i == 0 or not e["vaddr"] <= vaddr < e["vaddr"] + e["nr_pages"] * PAGE:
            continue
        before = (vaddr - e["vaddr"]) // PAGE
        pieces = []
        for start, n in ((0, before), (before, 1), (before + 1, e["nr_pages"] - before - 1)):
            if n:
                p = dict(e, vaddr=e["vaddr"] + start * PAGE, nr_pages=n)
                if "ref_vaddr" in e:
                    p["ref_vaddr"] = e["ref_vaddr"] + start * PAGE
                pieces.append(p)
        ents[i:i + 1] = pieces
        return i + (1 if before else 0)
    die(f"no entry holds page {vaddr:#x}")


def as_ref(e, ref_pid, ref_vaddr):
    e["flags"] = PE_COW_REF
    e["ref_pid"] = ref_pid
    if ref_vaddr is None:
        e.pop("ref_vaddr", None)
    else:
        e["ref_vaddr"] = ref_vaddr


def cmd_bad(d, case):
    """One bad edit of a real image; prints FILE<TAB>WHAT the error must name."""
    s = Snapshot(d)
    children = sorted(p for p in s.pms if s.parent_of.get(p) in s.pms)
    if len(children) < 2:
        die(f"{d}: case {case} needs a tree with two children of one parent")
    a, b = children[0], children[1]
    root = s.parent_of[a]

    def first_mark(pid):
        for i, e in enumerate(s.pms[pid]):
            if i and e.get("flags", 0) & PE_COW:
                return i, e
        die(f"pagemap-{pid}.img has no PE_COW entry")

    i, e = first_mark(a)
    what = None
    edited = {a}
    if case == "present-and-cow":
        e["flags"] = PE_PRESENT | PE_COW
        what = "not exactly one of PE_PRESENT, PE_PARENT, PE_COW, PE_COW_REF"
    elif case == "ref-without-ref-vaddr":
        as_ref(e, root, None)
        what = "PE_COW_REF without ref_vaddr"
    elif case == "ref-vaddr-unaligned":
        as_ref(e, root, e["vaddr"] + 0x10)
        what = "ref_vaddr not page aligned"
    elif case == "self-reference":
        as_ref(e, a, e["vaddr"])
        what = "a task refers to itself"
    elif case == "loop":
        # One page both children still share with their parent: a's names
        # b's, b's names a's. In the images before, both were the parent's.
        pages_b = set(p for q, p in s.marked_pages() if q == b)
        common = [p for q, p in s.marked_pages() if q == a and p in pages_b]
        if not common:
            die(f"{d}: no page both {a} and {b} share with {root}")
        v = common[0]
        for x, y in ((a, b), (b, a)):
            ents = s.pms[x]
            as_ref(ents[split_page(ents, v)], y, v)
        edited = {a, b}
        what = "whose pages refer back to it (a loop)"
    elif case == "page-the-holder-lacks":
        # the first page after one of the holder's entries that no entry holds
        mapped = [(x["vaddr"], x["vaddr"] + x["nr_pages"] * PAGE) for x in s.pms[root][1:]]
        gap = next(end for (_, end), (nxt, _) in zip(mapped, mapped[1:]) if end < nxt)
        as_ref(e, root, gap)
        what = f"refers to task {root}'s page {gap:x}, which the task does not have"
    elif case == "entries-out-of-order":
        ents = s.pms[a]
        ents[1], ents[2] = ents[2], ents[1]
        what = "overlaps or precedes the previous entry"
    else:
        die(f"unknown case {case}")
    for pid in edited:
        save(pagemap_path(d, pid), {"magic": "PAGEMAP", "entries": s.pms[pid]})
    names = "|".join(f"pagemap-{pid}.img" for pid in sorted(edited))
    print(f"{names}\t{what}")


def cmd_check_referenced(orig, d):
    s = Snapshot(orig)
    ranges = set()
    for pid, v in s.marked_pages():
        at = s.data_of(pid, v)
        if at is None:
            die(f"{orig}: page {v:#x} of {pid} names no data in this snapshot")
        ranges.add(at)
    damaged = 0
    for path, off in sorted(ranges):
        name = os.path.basename(path)
        with open(path, "rb") as f1, open(os.path.join(d, name), "rb") as f2:
            f1.seek(off)
            f2.seek(off)
            if f1.read(PAGE) != f2.read(PAGE):
                damaged += 1
    print(f"{len(ranges) * PAGE} bytes referenced, {damaged * PAGE} damaged")
    return 1 if damaged or not ranges else 0


def cmd_marks(d):
    print(sum(1 for _ in Snapshot(d).marked_pages()))


COMMANDS = {
    "drop-task": (cmd_drop_task, 2),
    "to-parent": (cmd_to_parent, 2),
    "set-version": (cmd_set_version, 2),
    "set-uptime": (cmd_set_uptime, 1),
    "bad": (cmd_bad, 2),
    "check-referenced": (cmd_check_referenced, 2),
    "marks": (cmd_marks, 1),
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) >= 2 else 2
    cmd = COMMANDS.get(sys.argv[1])
    if not cmd or len(sys.argv) - 2 != cmd[1]:
        die(f"usage: {sys.argv[1]} needs {cmd[1] if cmd else '?'} arguments (--help)")
    return cmd[0](*sys.argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main())
