/*
 * Deterministic memfd content: every 4 KiB page is a splitmix64 stream keyed by
 * (seed, page index), so any page can be recomputed alone and a page that moved
 * to another offset is caught as well as a corrupted one.
 */
#include "agent.h"
#include <string.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void pattern_page(uint64_t seed, uint64_t page, uint8_t *out, size_t len)
{
	uint64_t st = seed ^ (page * 0xd1b54a32d192ed03ULL), v;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		v = splitmix64(&st);
		memcpy(out + i, &v, 8);
	}
	if (i < len) {
		v = splitmix64(&st);
		memcpy(out + i, &v, len - i);
	}
}
