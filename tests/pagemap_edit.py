#!/usr/bin/python3
"""Edit the pagemap of a CRIU image directory into the cases a reader of
dedup images must handle. Needs pycriu on PYTHONPATH (the dedup build's lib/).

  pagemap_edit.py ref-missing DIR
      the first PE_COW_REF entry names task 4000000, which is not in DIR
  pagemap_edit.py ref-loop DIR
      the first PE_COW_REF entry names its own task and address: a loop
  pagemap_edit.py cow-missing DIR
      the first PE_COW entry names (ref_pid) task 4000000 as its parent
  pagemap_edit.py to-parent DIR PARENT PID START LEN
      PID's PE_PRESENT entries inside [START, START+LEN) become PE_PARENT
      holes, their pages are cut out of PID's pages image, and DIR/parent
      links to PARENT (a copy of DIR made before): the pages now live in a
      parent snapshot, as after a pre-dump.

Prints "PID VADDR" of the entry it changed (the first three) or the number
of pages it moved (to-parent). Exit 0 done, 1 nothing to edit, 2 error.
"""
import os
import sys

from pycriu import images

PE_PARENT, PE_PRESENT, PE_COW, PE_COW_REF = 1 << 0, 1 << 2, 1 << 3, 1 << 4
PAGE_SIZE = 4096
MISSING_PID = 4000000


def load(path):
    with open(path, "rb") as f:
        return images.load(f)


def save(path, img):
    with open(path, "wb") as f:
        images.dump(img, f)


def pagemap_paths(d):
    return sorted(os.path.join(d, n) for n in os.listdir(d)
                  if n.startswith("pagemap-") and n.endswith(".img"))


def edit_first_ref(d, flag, loop):
    for path in pagemap_paths(d):
        pid = int(path.rsplit("-", 1)[1][:-len(".img")])
        img = load(path)
        for e in img["entries"][1:]:
            if e.get("flags", 0) & flag:
                if loop:
                    e["ref_pid"], e["ref_vaddr"] = pid, e["vaddr"]
                else:
                    e["ref_pid"] = MISSING_PID
                save(path, img)
                print(pid, hex(e["vaddr"]))
                return 0
    return 1


def to_parent(d, parent, pid, start, length):
    path = os.path.join(d, f"pagemap-{pid}.img")
    img = load(path)
    pages_path = os.path.join(d, f"pages-{img['entries'][0]['pages_id']}.img")
    with open(pages_path, "rb") as f:
        pages = f.read()
    kept, off, moved = [], 0, 0
    for e in img["entries"][1:]:
        nr = e.get("nr_pages", e["compat_nr_pages"])
        flags = e.get("flags", PE_PRESENT)
        if not flags & PE_PRESENT:
            continue
        size = nr * PAGE_SIZE
        if start <= e["vaddr"] and e["vaddr"] + size <= start + length:
            e["flags"] = PE_PARENT
            moved += nr
        else:
            kept.append(pages[off:off + size])
        off += size
    if not moved:
        return 1
    save(path, img)
    with open(pages_path, "wb") as f:
        f.write(b"".join(kept))
    os.symlink(os.path.abspath(parent), os.path.join(d, "parent"))
    print(moved)
    return 0


def main(argv):
    try:
        if len(argv) == 3 and argv[1] in ("ref-missing", "ref-loop"):
            return edit_first_ref(argv[2], PE_COW_REF, argv[1] == "ref-loop")
        if len(argv) == 3 and argv[1] == "cow-missing":
            return edit_first_ref(argv[2], PE_COW, False)
        if len(argv) == 7 and argv[1] == "to-parent":
            return to_parent(argv[2], argv[3], int(argv[4]), int(argv[5], 0), int(argv[6], 0))
    except (OSError, ValueError, KeyError) as e:
        print(f"pagemap_edit.py: {e}", file=sys.stderr)
        return 2
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
