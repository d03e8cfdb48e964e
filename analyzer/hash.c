#include <string.h>

#include "hash.h"

#define PRIME1 0x9E3779B185EBCA87ULL
#define PRIME2 0xC2B2AE3D27D4EB4FULL

static inline uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* xxh64-like round: four independent lanes keep the multiplier busy. */
static inline uint64_t round64(uint64_t acc, uint64_t in)
{
	acc += in * PRIME2;
	acc = rotl(acc, 31);
	return acc * PRIME1;
}

void hash64_init(struct hash64 *h)
{
	h->lane[0] = PRIME1 + PRIME2;
	h->lane[1] = PRIME2;
	h->lane[2] = 0;
	h->lane[3] = -PRIME1;
	h->len = 0;
}

void hash64_update(struct hash64 *h, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i + 32 <= len; i += 32) {
		uint64_t w[4];

		memcpy(w, p + i, 32);
		h->lane[0] = round64(h->lane[0], w[0]);
		h->lane[1] = round64(h->lane[1], w[1]);
		h->lane[2] = round64(h->lane[2], w[2]);
		h->lane[3] = round64(h->lane[3], w[3]);
	}
	for (; i < len; i++)
		h->lane[i & 3] = round64(h->lane[i & 3], p[i] + 1);
	h->len += len;
}

uint64_t hash64_final(const struct hash64 *h)
{
	uint64_t acc = rotl(h->lane[0], 1) + rotl(h->lane[1], 7) + rotl(h->lane[2], 12) +
		       rotl(h->lane[3], 18) + h->len;

	acc ^= acc >> 33;
	acc *= PRIME2;
	acc ^= acc >> 29;
	return acc;
}
