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
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

static uint32_t word_at(const unsigned char *map, uint64_t off)
{
	uint32_t v;

	memcpy(&v, map + off, sizeof(v));
	return v;
}

/*
 * The boundary that leaves the fewest pages off "high before, low from
 * here": pages before k that hold high plus pages from k on that hold low,
 * the latter as all lows minus the lows before k. One pass, no table.
 */
static uint64_t best_boundary(const unsigned char *map, uint64_t first, uint64_t pages, uint64_t high, uint64_t low)
{
	uint64_t lows = 0, highs_before = 0, lows_before = 0, best = 0, at = first, k;

	for (k = 0; k < pages; k++)
		lows += word_at(map, (first + k) * PATTERN_PAGE) == low;
	for (k = 0; k <= pages; k++) {
		uint64_t score = highs_before + (lows - lows_before);
		if (score > best) {
			best = score;
			at = first + k;
		}
		if (k < pages) {
			uint32_t v = word_at(map, (first + k) * PATTERN_PAGE);
			highs_before += v == high;
			lows_before += v == low;
		}
	}
	return at;
}

static int v_vm_ram_check(const struct req *r, struct jw *w, struct aerr *e)
{
	uint64_t first, pages, cpage, high, low, boundary, p, off = 0, size;
	uint64_t firstoff[8][3];
	unsigned char *map;
	const char *id;
	struct memfd *m;
	struct sha256 h;
	struct stat st;
	uint32_t counter;
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
		/* The best fit: the first page's value up to the boundary, the last page's from it. */
		high = WORD(first);
		low = WORD(first + pages - 1);
		boundary = best_boundary(map, first, pages, high, low);
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
