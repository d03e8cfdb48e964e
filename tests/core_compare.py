#!/usr/bin/python3
"""Compare the memory an ELF core file (criu-coredump's output) holds.

  core_compare.py same REF CORE [--mask START:LEN]...
      CORE has REF's PT_LOAD headers (address, sizes, flags), every
      segment's bytes lie inside both files, the bytes are equal outside
      the masked ranges, and NT_PRPSINFO (its command line comes from
      memory too) is equal.
  core_compare.py live CORE PID START LEN
      CORE's bytes of [START, START+LEN) are the live memory of PID there.
      Read without populating anything: /proc/PID/pagemap first, then
      /proc/PID/mem of present or swapped pages only; a page that is
      neither must be zeros in the core.

Exit 0: equal; 1: a difference, described in one line on stdout; 2: error
(one line on stderr).
"""
import argparse
import struct
import sys

PT_LOAD, PT_NOTE, NT_PRPSINFO = 1, 4, 3
PM_PRESENT, PM_SWAP = 1 << 63, 1 << 62
PAGE_SIZE = 4096


class Core:
    """The program headers and notes of a 64-bit little-endian ELF core."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        if self.data[:4] != b"\x7fELF" or self.data[4] != 2:
            raise ValueError(f"{path}: not a 64-bit ELF file")
        phoff, = struct.unpack_from("<Q", self.data, 32)
        phentsize, phnum = struct.unpack_from("<HH", self.data, 54)
        self.path = path
        self.loads = []
        self.notes = {}
        for i in range(phnum):
            (p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz,
             _) = struct.unpack_from("<IIQQQQQQ", self.data, phoff + i * phentsize)
            if p_type == PT_LOAD:
                self.loads.append((p_vaddr, p_memsz, p_filesz, p_flags, p_offset))
            elif p_type == PT_NOTE:
                self._read_notes(p_offset, p_filesz)

    def _read_notes(self, off, size):
        end = off + size
        while off + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", self.data, off)
            desc = off + 12 + (namesz + 3) // 4 * 4
            # the first note of a type: NT_PRPSINFO is one per core
            self.notes.setdefault(ntype, self.data[desc:desc + descsz])
            off = desc + (descsz + 3) // 4 * 4

    def segment(self, load):
        vaddr, _, filesz, _, offset = load
        if offset + filesz > len(self.data):
            raise EOFError(f"{self.path}: segment at {vaddr:#x} ends at byte "
                           f"{offset + filesz}, past the file's end ({len(self.data)})")
        return self.data[offset:offset + filesz]

    def read(self, start, length):
        """Bytes of [start, start+length), all inside one PT_LOAD's file part."""
        for load in self.loads:
            vaddr, _, filesz, _, _ = load
            if vaddr <= start and start + length <= vaddr + filesz:
                return self.segment(load)[start - vaddr:start - vaddr + length]
        raise LookupError(f"{self.path}: no PT_LOAD holds {start:#x}+{length:#x}")


def masked(buf, vaddr, masks):
    """buf (memory at vaddr) with the bytes of every mask range zeroed."""
    out = bytearray(buf)
    for m_start, m_len in masks:
        s, e = max(m_start, vaddr), min(m_start + m_len, vaddr + len(buf))
        if s < e:
            out[s - vaddr:e - vaddr] = bytes(e - s)
    return bytes(out)


def first_diff(a, b):
    return next(i for i in range(min(len(a), len(b))) if a[i] != b[i])


def cmd_same(args):
    ref, core = Core(args.ref), Core(args.core)
    masks = [tuple(int(x, 0) for x in m.split(":")) for m in args.mask]
    heads = [l[:4] for l in ref.loads]
    if heads != [l[:4] for l in core.loads]:
        print(f"PT_LOAD headers differ: {len(ref.loads)} in the reference, {len(core.loads)} here")
        return 1
    for r_load, c_load in zip(ref.loads, core.loads):
        vaddr = r_load[0]
        try:
            r_buf = masked(ref.segment(r_load), vaddr, masks)
            c_buf = masked(core.segment(c_load), vaddr, masks)
        except EOFError as e:
            print(e)
            return 1
        if r_buf != c_buf:
            at = vaddr + first_diff(r_buf, c_buf)
            print(f"segment {vaddr:#x} differs, first at {at:#x} (page {at // PAGE_SIZE * PAGE_SIZE:#x})")
            return 1
    if ref.notes.get(NT_PRPSINFO) != core.notes.get(NT_PRPSINFO):
        print("NT_PRPSINFO differs")
        return 1
    return 0


def cmd_live(args):
    core = Core(args.core)
    start, length = int(args.start, 0), int(args.len, 0)
    got = core.read(start, length)
    with open(f"/proc/{args.pid}/pagemap", "rb") as pm, open(f"/proc/{args.pid}/mem", "rb") as mem:
        pm.seek(start // PAGE_SIZE * 8)
        entries = struct.unpack(f"<{length // PAGE_SIZE}Q", pm.read(length // PAGE_SIZE * 8))
        for i, e in enumerate(entries):
            addr = start + i * PAGE_SIZE
            if e & (PM_PRESENT | PM_SWAP):
                mem.seek(addr)
                want = mem.read(PAGE_SIZE)
            else:
                want = bytes(PAGE_SIZE)
            if got[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] != want:
                print(f"page {addr:#x} differs from the live memory of {args.pid}")
                return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("same", help="CORE holds REF's memory")
    s.add_argument("ref")
    s.add_argument("core")
    s.add_argument("--mask", action="append", default=[], metavar="START:LEN")
    s.set_defaults(func=cmd_same)
    s = sub.add_parser("live", help="CORE holds PID's live memory in a range")
    s.add_argument("core")
    s.add_argument("pid", type=int)
    s.add_argument("start")
    s.add_argument("len")
    s.set_defaults(func=cmd_live)
    args = ap.parse_args()
    try:
        return args.func(args)
    except (OSError, ValueError, LookupError, struct.error) as e:
        print(f"core_compare.py: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
