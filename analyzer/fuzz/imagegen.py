#!/usr/bin/env python3
"""Hand-built CRIU images for cowscan's image reader: no CRIU involved.

  imagegen.py seeds [DIR]     the fuzz target's seed corpus (default:
                              analyzer/fuzz/seeds): a selector byte (see
                              fuzz_image.c) + a small image, valid ones and
                              near-misses, so fuzzing starts past the magic
  imagegen.py synthetic DIR   a whole image directory whose numbers are
                              known by construction (see synthetic() below),
                              with pagemap flags CRIU on this machine does
                              not produce: PE_PARENT, PE_COW, v1 compat
                              entries

Images are framed as criu/image.c writes them and encoded with the minimal
protobuf encoder below. Deterministic.
"""
import os
import struct
import sys

IMG_COMMON_MAGIC = 0x54564319
PSTREE_MAGIC = 0x50273030
PAGEMAP_MAGIC = 0x56084025
MM_MAGIC = 0x57492820
PE_PARENT, PE_LAZY, PE_PRESENT, PE_COW = 1, 2, 4, 8
PAGE = 4096


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, v):
    """A varint field, or a length-delimited one for bytes."""
    if isinstance(v, bytes):
        return varint(num << 3 | 2) + varint(len(v)) + v
    return varint(num << 3) + varint(v)


def msg(*fields):
    return b"".join(field(n, v) for n, v in fields)


def image(magic, entries, common=True):
    """v1.1 images start with the common magic; v1 images do not."""
    head = struct.pack("<I", IMG_COMMON_MAGIC) if common else b""
    head += struct.pack("<I", magic)
    return head + b"".join(struct.pack("<I", len(e)) + e for e in entries)


def pstree(procs):
    """procs: [(pid, ppid, [tids])]"""
    return image(PSTREE_MAGIC, [msg((1, p), (2, pp), (3, procs[0][0]), (4, procs[0][0]),
                                    *[(5, t) for t in th]) for p, pp, th in procs])


def vma(start, end):
    zigzag_minus_one = 1
    return msg((1, start), (2, end), (3, 0), (4, 0), (5, 3), (6, 0x22),
               (7, 0x201), (8, zigzag_minus_one))


def mm(vmas):
    return image(MM_MAGIC, [msg(*[(n, 0x1000 * n) for n in range(1, 12)],
                                (12, 1), *[(14, vma(s, e)) for s, e in vmas])])


def pme(vaddr, nr, flags):
    """A current pagemap_entry: flags and nr_pages."""
    return msg((1, vaddr), (2, 0), (4, flags), (5, nr))


def pme_compat(vaddr, nr, in_parent=False):
    """An old pagemap_entry: compat_nr_pages and in_parent, no flags."""
    return msg((1, vaddr), (2, nr), *([(3, 1)] if in_parent else []))


def pagemap(pages_id, entries, common=True):
    return image(PAGEMAP_MAGIC, [msg((1, pages_id))] + entries, common)


def seeds():
    tree = pstree([(100, 0, [100]), (101, 100, [101, 105]), (102, 101, [102])])
    yield "pstree", b"\x00" + tree
    yield "mm", b"\x01" + mm([(0x400000, 0x402000), (0x7f0000000000, 0x7f0000010000)])
    flags = pagemap(7, [pme(0x400000, 2, PE_PRESENT),
                        pme(0x500000, 3, PE_PRESENT | PE_LAZY),
                        pme(0x600000, 1, PE_PARENT),
                        pme(0x700000, 4, PE_COW)])
    yield "pagemap-flags", b"\x02" + flags
    compat = pagemap(7, [pme_compat(0x400000, 2), pme_compat(0x600000, 1, True)],
                     common=False)
    yield "pagemap-compat-v1", b"\x02" + compat
    yield "pagemap-vs-pages", b"\x03\x05" + flags
    yield "pagemap-past-pages", b"\x03\x01" + flags
    yield "pagemap-oversized", b"\x02" + flags[:8] + b"\xff\xff\xff\xff" + flags[12:]
    yield "pstree-truncated", b"\x00" + tree[:-3]


def page(byte):
    return bytes([byte]) * PAGE


def synthetic(out):
    """Three processes, eleven written pages of six distinct contents.

    pid 100: 4 present + 2 present|lazy + 3 in parent; pages-1.img = A B 0 A C 0
    pid 101: 4 cow-marked + 2 present;                 pages-2.img = B D
    pid 102: v1 image, compat entries: 3 present + 1 in_parent;
                                                        pages-3.img = A 0 E
    So: written 11, cow 4, parent 4, lazy 2, zero 3 (100: 2, 102: 1),
    unique contents 6 (A B C D E 0), duplicates 5.
    """
    A, B, C, D, E, Z = (page(b) for b in (0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0))
    files = {
        "pstree.img": pstree([(100, 0, [100]), (101, 100, [101]), (102, 100, [102])]),
        "pagemap-100.img": pagemap(1, [pme(0x400000, 4, PE_PRESENT),
                                       pme(0x500000, 2, PE_PRESENT | PE_LAZY),
                                       pme(0x600000, 3, PE_PARENT)]),
        "pagemap-101.img": pagemap(2, [pme(0x400000, 4, PE_COW),
                                       pme(0x500000, 2, PE_PRESENT)]),
        "pagemap-102.img": pagemap(3, [pme_compat(0x400000, 3),
                                       pme_compat(0x600000, 1, in_parent=True)],
                                   common=False),
        "pages-1.img": A + B + Z + A + C + Z,
        "pages-2.img": B + D,
        "pages-3.img": A + Z + E,
    }
    for pid in (100, 101, 102):
        files["mm-%d.img" % pid] = mm([(0x400000, 0x410000), (0x500000, 0x502000),
                                       (0x600000, 0x604000)])
    os.makedirs(out, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "seeds":
        here = os.path.dirname(os.path.abspath(__file__))
        out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "seeds")
        os.makedirs(out, exist_ok=True)
        for name, data in seeds():
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
    elif len(sys.argv) == 3 and sys.argv[1] == "synthetic":
        synthetic(sys.argv[2])
    else:
        sys.exit("usage: imagegen.py seeds [DIR] | synthetic DIR")


if __name__ == "__main__":
    main()
