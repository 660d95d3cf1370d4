/*
 * What every page of a memfd must hold, as a VMM's guest RAM changes it: the
 * fill it was made with (the seed's pattern, a hole, or a fallocated range
 * never written), then every write (mmap stores or write()) and punched hole
 * since, in order, before and after PRESERVE_FD. The plan carries the list
 * across a kexec, so the next kernel's agent checks every page against what
 * was last written, not against what was there at preservation.
 */
#include "agent.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void memfd_expected_page(const struct memfd *m, uint64_t seed, uint64_t page, uint8_t *out, size_t len)
{
	int i;

	for (i = m->n_ext - 1; i >= 0; i--) {
		const struct extent *x = &m->ext[i];
		if (page >= x->first && page - x->first < x->count) {
			if (x->zero)
				memset(out, 0, len);
			else
				pattern_page(x->seed, page, out, len);
			return;
		}
	}
	if (m->fill == FILL_PATTERN)
		pattern_page(seed, page, out, len);
	else
		memset(out, 0, len);
}

void memfd_expected_sha(const struct memfd *m, char out[65])
{
	uint8_t page[PATTERN_PAGE];
	struct sha256 h;
	uint64_t p, pages = (m->size + PATTERN_PAGE - 1) / PATTERN_PAGE;

	sha256_init(&h);
	for (p = 0; p < pages; p++) {
		size_t len = m->size - p * PATTERN_PAGE < PATTERN_PAGE ? m->size - p * PATTERN_PAGE : PATTERN_PAGE;
		memfd_expected_page(m, m->seed, p, page, len);
		sha256_update(&h, page, len);
	}
	sha256_hex(&h, out);
}

int memfd_extents_text(const struct memfd *m, char *buf, size_t cap)
{
	size_t len = 0;
	int i, n;

	n = snprintf(buf, cap, " %d", m->n_ext);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	len = (size_t)n;
	for (i = 0; i < m->n_ext; i++) {
		const struct extent *x = &m->ext[i];
		n = snprintf(buf + len, cap - len, " %llu:%llu:%llu:%d", (unsigned long long)x->first,
			     (unsigned long long)x->count, (unsigned long long)x->seed, x->zero ? 1 : 0);
		if (n < 0 || (size_t)n >= cap - len)
			return -1;
		len += (size_t)n;
	}
	return 0;
}

int memfd_extents_parse(struct memfd *m, const char *text)
{
	unsigned long long first, count, seed;
	int n, i, used, zero;

	m->n_ext = 0;
	if (!text || !*text)
		return 0; /* a plan of an older agent: no extents */
	if (sscanf(text, " %d%n", &n, &used) != 1 || n < 0 || n > MAX_EXTENTS)
		return -1;
	text += used;
	for (i = 0; i < n; i++) {
		if (sscanf(text, " %llu:%llu:%llu:%d%n", &first, &count, &seed, &zero, &used) != 4)
			return -1;
		text += used;
		m->ext[i] = (struct extent){ first, count, seed, zero != 0 };
	}
	m->n_ext = n;
	return 0;
}

/* The memfd and the page range a verb names, checked against the file's pages. */
static struct memfd *range_of(const struct req *r, uint64_t *first, uint64_t *count, struct aerr *e)
{
	const char *id;
	struct memfd *m;
	uint64_t pages;

	if (req_str(r, "id", &id, e) || req_u64(r, "first", first, e) || req_u64(r, "pages", count, e))
		return NULL;
	if (!(m = memfd_find(id))) {
		fail(e, "lookup", ENOENT, -1, "the agent holds no memfd named '%s'", id);
		return NULL;
	}
	pages = (m->size + PATTERN_PAGE - 1) / PATTERN_PAGE;
	if (!*count || *first > pages || *count > pages - *first) {
		fail(e, "argument", EINVAL, -1, "pages %llu..%llu are not inside memfd '%s' (%llu pages)",
		     (unsigned long long)*first, (unsigned long long)(*first + *count), id, (unsigned long long)pages);
		return NULL;
	}
	return m;
}

/* Counted, never capped silently: a write the agent cannot remember is refused before it happens. */
static int extent_room(const struct memfd *m, struct aerr *e)
{
	if (m->n_ext < MAX_EXTENTS)
		return 0;
	return fail(e, "extents", ENOSPC, m->fd, "memfd '%s' already has %d writes recorded (max %d)", m->id,
		    m->n_ext, MAX_EXTENTS);
}

/* After a change of pages [first, first + count): the new expected hash, the plan when the memfd is preserved, the reply's common part. */
static int changed(struct memfd *m, uint64_t first, uint64_t count, struct jw *w, struct aerr *e)
{
	memfd_expected_sha(m, m->sha256);
	if (m->session[0] && plan_save(e))
		return -1;
	jw_str(w, "id", m->id);
	jw_u64(w, "first", first);
	jw_u64(w, "pages", count);
	jw_bool(w, "preserved", m->session[0] != 0);
	jw_str(w, "sha256", m->sha256);
	return 0;
}

static int v_memfd_write(const struct req *r, struct jw *w, struct aerr *e)
{
	uint64_t first, count, seed, p, t0 = now_ns(CLOCK_MONOTONIC);
	const char *via = req_get(r, "via");
	uint8_t page[PATTERN_PAGE], *map;
	struct memfd *m;
	size_t off, len;

	if (!(m = range_of(r, &first, &count, e)) || req_u64(r, "seed", &seed, e) || extent_room(m, e))
		return -1;
	if (!via)
		via = "mmap";
	if (strcmp(via, "mmap") && strcmp(via, "write"))
		return fail(e, "argument", EINVAL, -1, "--via is mmap or write, not '%s'", via);
	off = first * PATTERN_PAGE;
	len = count * PATTERN_PAGE;
	if (off + len > m->size)
		len = m->size - off;
	if (!strcmp(via, "mmap")) {
		/* Stores through a shared mapping, as a running guest writes its RAM. */
		map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, (off_t)off);
		if (map == MAP_FAILED)
			return fail(e, "mmap", errno, m->fd, "mmap pages %llu..%llu of memfd '%s' for writing: %s",
				    (unsigned long long)first, (unsigned long long)(first + count), m->id, strerror(errno));
		for (p = 0; p < count; p++) {
			size_t n = len - p * PATTERN_PAGE < PATTERN_PAGE ? len - p * PATTERN_PAGE : PATTERN_PAGE;
			pattern_page(seed, first + p, map + p * PATTERN_PAGE, n);
		}
		munmap(map, len);
	} else {
		for (p = 0; p < count; p++) {
			size_t n = len - p * PATTERN_PAGE < PATTERN_PAGE ? len - p * PATTERN_PAGE : PATTERN_PAGE;
			ssize_t got;
			pattern_page(seed, first + p, page, n);
			got = pwrite(m->fd, page, n, (off_t)(off + p * PATTERN_PAGE));
			if (got != (ssize_t)n)
				return fail(e, "pwrite", got < 0 ? errno : EIO, m->fd,
					    "write page %llu of memfd '%s': %s", (unsigned long long)(first + p), m->id,
					    got < 0 ? strerror(errno) : "short write");
		}
	}
	m->ext[m->n_ext++] = (struct extent){ first, count, seed, false };
	if (changed(m, first, count, w, e))
		return -1;
	jw_u64(w, "seed", seed);
	jw_str(w, "via", via);
	jw_u64(w, "elapsed_us", (now_ns(CLOCK_MONOTONIC) - t0) / 1000);
	return 0;
}

static int v_memfd_fallocate(const struct req *r, struct jw *w, struct aerr *e)
{
	bool punch = req_flag(r, "punch");
	uint64_t first, count;
	struct memfd *m;
	int mode = punch ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : 0;

	if (!(m = range_of(r, &first, &count, e)) || (punch && extent_room(m, e)))
		return -1;
	if (fallocate(m->fd, mode, (off_t)(first * PATTERN_PAGE), (off_t)(count * PATTERN_PAGE)) < 0)
		return fail(e, "fallocate", errno, m->fd, "fallocate(%s) pages %llu..%llu of memfd '%s': %s",
			    punch ? "FALLOC_FL_PUNCH_HOLE" : "0", (unsigned long long)first,
			    (unsigned long long)(first + count), m->id, strerror(errno));
	/* A plain fallocate leaves every byte as it was (a hole reads zeros before and after); a punch zeroes. */
	if (punch)
		m->ext[m->n_ext++] = (struct extent){ first, count, 0, true };
	if (changed(m, first, count, w, e))
		return -1;
	jw_bool(w, "punch", punch);
	return 0;
}

const struct verb content_verbs[] = {
	{ "memfd-write", v_memfd_write, "id,first,pages,seed,via" },
	{ "memfd-fallocate", v_memfd_fallocate, "id,first,pages,punch" },
	{ NULL, NULL, NULL },
};
