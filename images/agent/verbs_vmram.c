/*
 * vm-ram-check: the nested VM's guest RAM as its firmware
 * (images/nested-guest/guest.S) leaves it. The first 32-bit word of every
 * page in [first, first + pages) counts the passes that reached it, so pages
 * below where the VM stopped hold one more than the rest: "high" up to the
 * boundary, "low" from it. The layout given (--high --low --boundary, as
 * a check before the kexec found it) or else the best fit is judged; every
 * page off it is counted and the first ones are named with what they hold.
 * The whole memfd's sha256 and the VM's pass counter come along.
 */
#include "agent.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

static uint32_t word_at(const unsigned char *map, uint64_t off)
{
	uint32_t v;

	memcpy(&v, map + off, sizeof(v));
	return v;
}

static int v_vm_ram_check(const struct req *r, struct jw *w, struct aerr *e)
{
	uint64_t first, pages, cpage, high, low, boundary, p, off = 0, best = 0, k, size;
	uint64_t firstoff[8][3];
	unsigned char *map;
	const char *id;
	struct memfd *m;
	struct sha256 h;
	struct stat st;
	uint32_t counter;
	uint64_t *hi_before;
	bool given = req_get(r, "boundary") != NULL;
	char hex[65];
	int n = 0, i;

	if (req_str(r, "id", &id, e) || req_u64(r, "first", &first, e) || req_u64(r, "pages", &pages, e) ||
	    req_u64(r, "counter-page", &cpage, e))
		return -1;
	if (!(m = memfd_find(id)))
		return fail(e, "lookup", ENOENT, -1, "the agent holds no memfd named '%s'", id);
	if (fstat(m->fd, &st) < 0)
		return fail(e, "fstat", errno, m->fd, "fstat memfd '%s': %s", id, strerror(errno));
	size = (uint64_t)st.st_size;
	if (!pages || (first + pages) * PATTERN_PAGE > size || (cpage + 1) * PATTERN_PAGE > size)
		return fail(e, "argument", EINVAL, -1, "pages %llu..%llu or counter page %llu are not inside memfd '%s' (%llu bytes)",
			    (unsigned long long)first, (unsigned long long)(first + pages), (unsigned long long)cpage, id,
			    (unsigned long long)size);
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, m->fd, 0);
	if (map == MAP_FAILED)
		return fail(e, "mmap", errno, m->fd, "mmap memfd '%s' (%llu bytes) for reading: %s", id,
			    (unsigned long long)size, strerror(errno));
#define WORD(pg) word_at(map, (pg) * PATTERN_PAGE)
	if (given) {
		if (req_u64(r, "high", &high, e) || req_u64(r, "low", &low, e) || req_u64(r, "boundary", &boundary, e)) {
			munmap(map, size);
			return -1;
		}
	} else {
		/* The best fit: the boundary that leaves the fewest pages off (first page's value above, last page's below). */
		high = WORD(first);
		low = WORD(first + pages - 1);
		hi_before = calloc(pages + 1, sizeof(*hi_before));
		if (!hi_before) {
			munmap(map, size);
			return fail(e, "calloc", ENOMEM, -1, "no memory for %llu pages", (unsigned long long)pages);
		}
		for (p = 0; p < pages; p++)
			hi_before[p + 1] = hi_before[p] + (WORD(first + p) == high);
		boundary = first;
		/* One pass from the end for the lows, then the best k. */
		{
			uint64_t lows = 0;
			uint64_t *lo_from = calloc(pages + 1, sizeof(*lo_from));
			if (!lo_from) {
				free(hi_before);
				munmap(map, size);
				return fail(e, "calloc", ENOMEM, -1, "no memory for %llu pages", (unsigned long long)pages);
			}
			for (p = pages; p-- > 0;) {
				lows += WORD(first + p) == low;
				lo_from[p] = lows;
			}
			for (k = 0; k <= pages; k++) {
				uint64_t score = hi_before[k] + lo_from[k];
				if (score > best) {
					best = score;
					boundary = first + k;
				}
			}
			free(lo_from);
		}
		free(hi_before);
	}
	for (p = first; p < first + pages; p++) {
		uint64_t want = p < boundary ? high : low;
		if (WORD(p) != want) {
			if (n < 8) {
				firstoff[n][0] = p;
				firstoff[n][1] = WORD(p);
				firstoff[n][2] = want;
				n++;
			}
			off++;
		}
	}
	memcpy(&counter, map + cpage * PATTERN_PAGE, sizeof(counter));
	sha256_init(&h);
	sha256_update(&h, map, size);
	sha256_hex(&h, hex);
#undef WORD
	munmap(map, size);
	jw_str(w, "id", id);
	jw_u64(w, "first", first);
	jw_u64(w, "pages", pages);
	jw_u64(w, "high", high);
	jw_u64(w, "low", low);
	jw_u64(w, "boundary", boundary);
	jw_bool(w, "given", given);
	jw_u64(w, "counter", counter);
	jw_u64(w, "off_pages", off);
	jw_arr(w, "first_off");
	for (i = 0; i < n; i++) {
		jw_obj(w, NULL);
		jw_u64(w, "page", firstoff[i][0]);
		jw_u64(w, "found", firstoff[i][1]);
		jw_u64(w, "expected", firstoff[i][2]);
		jw_end_obj(w);
	}
	jw_end_arr(w);
	jw_str(w, "sha256", hex);
	return 0;
}

const struct verb vmram_verbs[] = {
	{ "vm-ram-check", v_vm_ram_check, "id,first,pages,counter-page,high,low,boundary" },
	{ NULL, NULL, NULL },
};
