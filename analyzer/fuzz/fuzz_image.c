/*
 * libFuzzer target for cowscan's CRIU image parser: the framing layer
 * (magics, size-prefixed entries) and the pstree, mm and pagemap decoders,
 * including the pagemap-vs-pages-file check.
 *
 * Input: one selector byte, then the bytes of an image file.
 *   selector % 4 == 0  pstree.img
 *                   1  mm-PID.img
 *                   2  pagemap-PID.img
 *                   3  pagemap-PID.img checked against a pages file of
 *                      (second byte) pages; the file starts after it
 * Every outcome is fine except a crash, a hang or a sanitizer report.
 */
#include <stddef.h>
#include <stdint.h>

#include "image_decode.h"
#include "image_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_file f;
	uint8_t sel;

	if (size < 1)
		return 0;
	sel = data[0] % 4;
	data++;
	size--;

	if (sel == 0) {
		struct pstree t;

		img_file_wrap(&f, "fuzz/pstree.img", data, size);
		if (!pstree_decode(&f, &t))
			pstree_free(&t);
	} else if (sel == 1) {
		struct mm_summary mm;

		img_file_wrap(&f, "fuzz/mm-1.img", data, size);
		mm_decode(&f, &mm);
	} else {
		struct pagemap_counts c;
		struct pagemap pm;
		uint64_t pages_nr = 0;

		if (sel == 3) {
			if (size < 1)
				return 0;
			pages_nr = data[0];
			data++;
			size--;
		}
		img_file_wrap(&f, "fuzz/pagemap-1.img", data, size);
		if (pagemap_decode(&f, 4096, &pm))
			return 0;
		pagemap_count(&pm, &c);
		if (sel == 3)
			pagemap_check_pages(&f, &pm, "fuzz/pages-1.img", pages_nr);
		pagemap_free(&pm);
	}
	return 0;
}
