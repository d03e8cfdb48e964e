/* cowscan: measure copy-on-write sharing in process trees and CRIU images.
 * One binary, one subcommand per job: each is one row of the table below,
 * with its arguments and options; cli.c parses every command line and
 * prints every --help from these rows. */
#include "cli.h"
#include "commands.h"
#include "util.h"
#if defined(__has_include)
#if __has_include("image_cmd.h")
#include "image_cmd.h"
#define HAVE_IMAGE_CMD 1
#endif
#endif

#ifndef HAVE_IMAGE_CMD
static int cmd_image(const struct cli_args *a)
{
	(void)a;
	err_line("image: this cowscan was built without the CRIU image reader");
	return 2;
}
#endif

#define JSON_OPT                                                                                   \
	{                                                                                          \
		"json", 0, NULL, false, "one JSON document (schema in analyzer/README.md)"         \
	}

static const struct cli_cmd subcommands[] = {
    {"tree",
     "PID",
     1,
     1,
     "COW sharing of a live tree + CRIU 4.2.1 predictions",
     "Measure copy-on-write sharing in the process tree under PID and predict\n"
     "CRIU 4.2.1's image size and post-restore PSS. Needs root (CAP_SYS_ADMIN)\n"
     "for PFN-based figures; without it they are reported as unavailable.\n"
     "exit status: 0 ok, 2 error",
     {JSON_OPT, {"vmas", 0, NULL, false, "also list every VMA with its smaps RSS/PSS"}},
     cmd_tree},
    {"snapshot",
     "PID",
     1,
     1,
     "per-region content hashes, PSS, unique bytes, to compare later",
     "Record, for every process of the tree under PID (pre-order), a content hash\n"
     "of each region of alike VMAs, read without populating anything (absent\n"
     "pages are hashed as the content a fault would give them) and with each\n"
     "thread's rseq area masked (found with PTRACE_GET_RSEQ_CONFIGURATION), plus\n"
     "PSS and unique bytes. The processes are briefly ptrace-interrupted.\n"
     "Needs root.\n"
     "exit status: 0 ok, 2 error",
     {{"output", 'o', "FILE", true, "where to write the snapshot (JSON)"}},
     cmd_snapshot},
    {"compare",
     "BEFORE AFTER",
     2,
     2,
     "two snapshots: content identical? PSS/unique inflation",
     "Compare two snapshots (cowscan snapshot): processes matched by position in\n"
     "the tree, regions by address range. Reports whether every hashed region has\n"
     "the same content, PSS and unique bytes before/after and their inflation.\n"
     "exit status: 0 content identical, 1 content differs, 2 error",
     {JSON_OPT},
     cmd_compare},
    {"pages",
     "PID[@ADDR]...",
     1,
     -1,
     "page frames of processes or ranges: sharing, zero/THP, unique anonymous bytes, hash",
     "The oracle of the tests, from /proc/PID/pagemap and /proc/kpageflags only:\n"
     "nothing is read through /proc/PID/mem but present pages (--hash), so no\n"
     "page is populated. Per target, pages present, swapped, file-backed, on the\n"
     "zero page, in a THP, anonymous (present, not file, not the zero page).\n"
     "With --len BYTES, each target is the range of BYTES at PID@ADDR, and each\n"
     "range's pages are compared frame by frame with the first target's\n"
     "(same_frame_as_first). Without it, each target is every private VMA of\n"
     "PID but [vdso], [vvar] and [vsyscall] (with --tree: of every process of\n"
     "the tree under PID). Totals: distinct frames, and distinct anonymous\n"
     "frames in bytes (unique_anon_bytes). Needs root (PFNs).\n"
     "exit status: 0 ok, 2 error",
     {{"len", 0, "BYTES", false, "targets are ranges of BYTES at PID@ADDR"},
      {"tree", 0, NULL, false, "each PID stands for the tree under it (without --len)"},
      {"hash", 0, NULL, false, "content hash of each range, never populating (with --len)"},
      JSON_OPT},
     cmd_pages},
    {"image",
     "DIR",
     1,
     1,
     "what a CRIU image directory holds",
     "Read the CRIU image directory DIR (baseline or dedup CRIU) and report, per\n"
     "process of pstree.img: VMAs, pagemap entries, pages referenced, pages written\n"
     "to pages-*.img, pages cow-marked (PE_COW: same as the parent's page, not\n"
     "written; PE_COW_REF: another process's page), pages in the parent dump\n"
     "(PE_PARENT), lazy pages, all-zero written pages and image bytes\n"
     "(pages-ID.img + pagemap-PID.img + mm-PID.img). In total: pages-*.img bytes\n"
     "and the content of every written page, compared exactly: unique vs duplicate\n"
     "pages, what a perfect content dedup would save (duplicates x page size) and\n"
     "what the cow dedup saved (marked pages x page size).\n"
     "exit status: 0 ok; 2 bad usage or a missing, truncated or corrupt image file\n"
     "(one error line naming the file and, where it applies, the offset)",
     {JSON_OPT},
     cmd_image},
};

int main(int argc, char **argv)
{
	return cli_main(subcommands, (int)(sizeof(subcommands) / sizeof(subcommands[0])), argc,
			argv);
}
