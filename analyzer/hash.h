/* A fast non-cryptographic 64-bit content hash: equal memory gives equal
 * hashes; it only has to tell "same content" from "changed" reliably. */
#ifndef COWSCAN_HASH_H
#define COWSCAN_HASH_H

#include <stddef.h>
#include <stdint.h>

struct hash64 {
	uint64_t lane[4];
	uint64_t len;
};

void hash64_init(struct hash64 *h);
/* len must be a multiple of 32 except for the last call. */
void hash64_update(struct hash64 *h, const void *buf, size_t len);
uint64_t hash64_final(const struct hash64 *h);

#endif
