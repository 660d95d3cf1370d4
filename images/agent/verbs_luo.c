/* Verbs around /dev/liveupdate: sessions and memfds, plus status. */
#include "agent.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/liveupdate.h>

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

static struct session *need_session(const struct req *r, const char *key, struct aerr *e)
{
	const char *name;
	struct session *s;

	if (req_str(r, key, &name, e))
		return NULL;
	s = session_find(name);
	if (!s)
		fail(e, "lookup", ENOENT, -1, "the agent holds no session named '%s'", name);
	return s;
}

static void json_session(struct jw *w, const struct session *s)
{
	int i;

	jw_str(w, "name", s->name);
	jw_i64(w, "fd", s->fd);
	jw_str(w, "direction", s->incoming ? "incoming" : "outgoing");
	jw_bool(w, "finished", s->finished);
	jw_arr(w, "files");
	for (i = 0; i < MAX_MEMFDS; i++) {
		const struct memfd *m = &g.memfds[i];
		if (!m->used || strcmp(m->session, s->name))
			continue;
		jw_obj(w, NULL);
		jw_str(w, "kind", "memfd");
		jw_str(w, "id", m->id);
		jw_hex(w, "token", m->token);
		jw_i64(w, "fd", m->fd);
		jw_end_obj(w);
	}
	for (i = 0; i < MAX_HELD; i++) {
		const struct held *h = &g.held[i];
		if (!h->used || strcmp(h->session, s->name))
			continue;
		jw_obj(w, NULL);
		jw_str(w, "kind", h->kind);
		jw_null(w, "id");
		jw_hex(w, "token", h->token);
		jw_i64(w, "fd", h->fd);
		jw_end_obj(w);
	}
	jw_end_arr(w);
}

static void json_memfd(struct jw *w, const struct memfd *m)
{
	jw_str(w, "id", m->id);
	jw_i64(w, "fd", m->fd);
	jw_u64(w, "size", m->size);
	jw_u64(w, "seed", m->seed);
	jw_bool(w, "hugetlb", m->hugetlb);
	jw_bool(w, "sealed", m->sealed);
	jw_str(w, "sha256", m->sha256[0] ? m->sha256 : NULL);
	jw_str(w, "session", m->session[0] ? m->session : NULL);
	if (m->session[0])
		jw_hex(w, "token", m->token);
	else
		jw_null(w, "token");
	jw_str(w, "origin", m->restored ? "restored" : "created");
}

static int v_status(const struct req *r, struct jw *w, struct aerr *e)
{
	char kl[16];
	int i, listed;

	(void)r; (void)e;
	jw_i64(w, "pid", getpid());
	if (g.boot >= 0)
		jw_i64(w, "boot", g.boot);
	else
		jw_null(w, "boot");
	jw_str(w, "cmdline", g.cmdline);
	jw_obj(w, "liveupdate");
	jw_str(w, "device", LUO_DEVICE);
	jw_bool(w, "present", g.luo_fd >= 0 || access(LUO_DEVICE, F_OK) == 0);
	jw_bool(w, "open", g.luo_fd >= 0);
	if (g.luo_fd >= 0) {
		jw_i64(w, "fd", g.luo_fd);
		jw_null(w, "error");
	} else {
		jw_null(w, "fd");
		jw_obj(w, "error");
		jw_str(w, "op", g.luo_err.op);
		jw_i64(w, "errno", g.luo_err.err);
		jw_str(w, "errno_name", errno_name(g.luo_err.err));
		jw_str(w, "message", g.luo_err.msg);
		jw_null(w, "fd");
		jw_end_obj(w);
	}
	jw_end_obj(w);
	jw_obj(w, "state");
	jw_str(w, "session", STATE_SESSION);
	if (g.state_session_fd >= 0) {
		jw_i64(w, "session_fd", g.state_session_fd);
		jw_i64(w, "memfd_fd", g.state_memfd);
	} else {
		jw_null(w, "session_fd");
		jw_null(w, "memfd_fd");
	}
	jw_end_obj(w);
	jw_obj(w, "restore");
	jw_bool(w, "found", g.restore_found);
	jw_i64(w, "sessions", g.restored_sessions);
	jw_i64(w, "files", g.restored_files);
	jw_u64(w, "tsc", g.restore_tsc);
	jw_u64(w, "realtime_ns", g.restore_realtime_ns);
	jw_u64(w, "elapsed_us", g.restore_us);
	jw_arr(w, "errors");
	listed = g.n_restore_errs < RESTORE_ERRS_LISTED ? g.n_restore_errs : RESTORE_ERRS_LISTED;
	for (i = 0; i < listed; i++) {
		const struct restore_err *x = &g.restore_errs[i];
		char msg[sizeof(x->e.msg) + 200];
		/* The last one listed says how many follow it unlisted, so no reader takes the list for all. */
		if (i == listed - 1 && g.n_restore_errs > listed)
			snprintf(msg, sizeof(msg), "%s (and %d more restore errors after this one, not listed: the agent lists the first %d; the console has each as agent-restore-error)",
				 x->e.msg, g.n_restore_errs - listed, RESTORE_ERRS_LISTED);
		else
			snprintf(msg, sizeof(msg), "%s", x->e.msg);
		jw_obj(w, NULL);
		jw_str(w, "what", x->what);
		jw_str(w, "op", x->e.op);
		jw_i64(w, "errno", x->e.err);
		jw_str(w, "errno_name", errno_name(x->e.err));
		jw_str(w, "message", msg);
		jw_end_obj(w);
	}
	jw_end_arr(w);
	jw_i64(w, "errors_not_listed", g.n_restore_errs - listed);
	/* Preserved devices the restore brought back: bound to vfio-pci, then retrieved. */
	jw_arr(w, "devices");
	for (i = 0; i < MAX_HELD; i++) {
		const struct held *h = &g.held[i];
		if (!h->used || !h->restored || strcmp(h->kind, "vfio") || !h->bdf[0])
			continue;
		jw_obj(w, NULL);
		jw_str(w, "bdf", h->bdf);
		jw_str(w, "cdev", h->cdev);
		jw_str(w, "session", h->session);
		jw_hex(w, "token", h->token);
		jw_i64(w, "fd", h->fd);
		jw_bool(w, "bound_before_retrieve", h->device_bound);
		jw_i64(w, "guard_errno", h->guard_errno);
		jw_str(w, "guard_errno_name", h->guard_errno ? errno_name(h->guard_errno) : NULL);
		jw_end_obj(w);
	}
	jw_end_arr(w);
	jw_end_obj(w);
	jw_arr(w, "sessions");
	for (i = 0; i < MAX_SESSIONS; i++)
		if (g.sessions[i].used) {
			jw_obj(w, NULL);
			json_session(w, &g.sessions[i]);
			jw_end_obj(w);
		}
	jw_end_arr(w);
	jw_arr(w, "memfds");
	for (i = 0; i < MAX_MEMFDS; i++)
		if (g.memfds[i].used) {
			jw_obj(w, NULL);
			json_memfd(w, &g.memfds[i]);
			jw_end_obj(w);
		}
	jw_end_arr(w);
	if (g.iommufd >= 0)
		jw_i64(w, "iommufd", g.iommufd);
	else
		jw_null(w, "iommufd");
	jw_arr(w, "ioas");
	for (i = 0; i < g.n_ioas; i++)
		jw_u64(w, NULL, g.ioas[i]);
	jw_end_arr(w);
	jw_arr(w, "vfio");
	for (i = 0; i < MAX_VFIO; i++)
		if (g.vfio[i].used) {
			jw_obj(w, NULL);
			jw_str(w, "cdev", g.vfio[i].cdev);
			jw_i64(w, "fd", g.vfio[i].fd);
			jw_u64(w, "devid", g.vfio[i].devid);
			jw_u64(w, "pt_id", g.vfio[i].pt_id);
			jw_end_obj(w);
		}
	jw_end_arr(w);
	if (g.tsc_khz) {
		jw_u64(w, "tsc_khz", g.tsc_khz);
		jw_str(w, "tsc_khz_source", g.tsc_khz_source);
	} else {
		jw_null(w, "tsc_khz");
		jw_null(w, "tsc_khz_source");
	}
	jw_bool(w, "kexec_loaded", read_small_file("/sys/kernel/kexec_loaded", kl, sizeof(kl)) > 0 && kl[0] == '1');
	heartbeat_json(w);
	return 0;
}

static int v_session_create(const struct req *r, struct jw *w, struct aerr *e)
{
	struct liveupdate_ioctl_create_session arg = { .size = sizeof(arg) };
	const char *name;
	struct session *s;

	if (req_str(r, "name", &name, e) || check_name("session name", name, e))
		return -1;
	if (!strcmp(name, STATE_SESSION))
		return fail(e, "argument", EINVAL, -1, "'%s' is the agent's own state session", name);
	if (session_find(name))
		return fail(e, "lookup", EEXIST, -1, "the agent already holds a session named '%s'", name);
	if (!(s = session_slot()))
		return fail(e, "lookup", ENOSPC, -1, "no session '%s': %s", name, table_full(TABLE_SESSIONS));
	if (luo_ensure_open(e))
		return -1;
	/* The plan must be preserved before anything it describes. */
	if (plan_ensure_state(e))
		return -1;
	snprintf((char *)arg.name, sizeof(arg.name), "%s", name);
	if (ioctl(g.luo_fd, LIVEUPDATE_IOCTL_CREATE_SESSION, &arg) < 0)
		return fail(e, "LIVEUPDATE_IOCTL_CREATE_SESSION", errno, g.luo_fd,
			    "create session '%s': %s", name, strerror(errno));
	memset(s, 0, sizeof(*s));
	s->used = true;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->fd = arg.fd;
	if (plan_save(e))
		return -1;
	json_session(w, s);
	return 0;
}

static int v_session_retrieve(const struct req *r, struct jw *w, struct aerr *e)
{
	struct liveupdate_ioctl_retrieve_session arg = { .size = sizeof(arg) };
	const char *name;
	struct session *s;

	if (req_str(r, "name", &name, e) || check_name("session name", name, e))
		return -1;
	if (!(s = session_slot()))
		return fail(e, "lookup", ENOSPC, -1, "no session '%s': %s", name, table_full(TABLE_SESSIONS));
	if (luo_ensure_open(e))
		return -1;
	snprintf((char *)arg.name, sizeof(arg.name), "%s", name);
	if (ioctl(g.luo_fd, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &arg) < 0)
		return fail(e, "LIVEUPDATE_IOCTL_RETRIEVE_SESSION", errno, g.luo_fd,
			    "retrieve session '%s': %s", name, strerror(errno));
	memset(s, 0, sizeof(*s));
	s->used = true;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->fd = arg.fd;
	s->incoming = true;
	json_session(w, s);
	return 0;
}

static int v_session_finish(const struct req *r, struct jw *w, struct aerr *e)
{
	struct liveupdate_session_finish arg = { .size = sizeof(arg) };
	struct session *s = need_session(r, "name", e);
	uint64_t t0;

	if (!s)
		return -1;
	t0 = now_ns(CLOCK_MONOTONIC);
	if (ioctl(s->fd, LIVEUPDATE_SESSION_FINISH, &arg) < 0)
		return fail(e, "LIVEUPDATE_SESSION_FINISH", errno, s->fd,
			    "finish session '%s': %s", s->name, strerror(errno));
	s->finished = true;
	json_session(w, s);
	jw_u64(w, "elapsed_us", (now_ns(CLOCK_MONOTONIC) - t0) / 1000);
	return 0;
}

static int v_session_close(const struct req *r, struct jw *w, struct aerr *e)
{
	struct session *s = need_session(r, "name", e);
	int i;

	if (!s)
		return -1;
	jw_str(w, "name", s->name);
	jw_i64(w, "fd", s->fd);
	jw_str(w, "direction", s->incoming ? "incoming" : "outgoing");
	/* Closing an outgoing session unpreserves its files; an incoming one is finished by the kernel. */
	if (close(s->fd) < 0)
		return fail(e, "close", errno, s->fd, "close session '%s': %s", s->name, strerror(errno));
	for (i = 0; i < MAX_MEMFDS; i++)
		if (g.memfds[i].used && !strcmp(g.memfds[i].session, s->name))
			g.memfds[i].session[0] = 0;
	for (i = 0; i < MAX_HELD; i++)
		if (g.held[i].used && !strcmp(g.held[i].session, s->name))
			g.held[i].used = false;
	s->used = false;
	return plan_save(e);
}

static int v_memfd_create(const struct req *r, struct jw *w, struct aerr *e)
{
	const char *id;
	uint64_t size, seed, p, pages, t0 = now_ns(CLOCK_MONOTONIC);
	bool huge = req_flag(r, "hugetlb"), seal = req_flag(r, "seals"), tmp = req_flag(r, "tmpfile");
	const char *fill_arg = req_get(r, "fill");
	int fill = FILL_PATTERN;
	struct memfd *m;
	struct sha256 h;
	uint8_t *map = NULL;
	int fd;

	if (!(id = req_get(r, "name")) && !(id = req_get(r, "id"))) {
		return fail(e, "argument", EINVAL, -1, "memfd-create needs --name <id>");
	}
	if (check_name("memfd id", id, e) ||
	    req_u64(r, "size", &size, e) || req_u64_opt(r, "seed", 1, &seed, e))
		return -1;
	if (memfd_find(id))
		return fail(e, "lookup", EEXIST, -1, "the agent already holds a memfd named '%s'", id);
	if (!(m = memfd_slot()))
		return fail(e, "lookup", ENOSPC, -1, "no memfd '%s': %s", id, table_full(TABLE_MEMFDS));
	if (tmp && huge)
		return fail(e, "argument", EINVAL, -1, "--tmpfile and --hugetlb exclude each other");
	/* --fill hole: never written (pages come when touched); fallocate: allocated, never written (not uptodate). */
	if (fill_arg && !strcmp(fill_arg, "hole"))
		fill = FILL_HOLE;
	else if (fill_arg && !strcmp(fill_arg, "fallocate"))
		fill = FILL_FALLOC;
	else if (fill_arg && strcmp(fill_arg, "pattern"))
		return fail(e, "argument", EINVAL, -1, "--fill is pattern, hole or fallocate, not '%s'", fill_arg);
	/* --tmpfile: an unlinked tmpfs file, not a memfd (the memfd handler takes any unlinked shmem file). */
	if (tmp)
		fd = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	else
		fd = memfd_create(id, MFD_CLOEXEC | MFD_ALLOW_SEALING | (huge ? MFD_HUGETLB : 0));
	if (fd < 0)
		return fail(e, tmp ? "open" : "memfd_create", errno, -1, "%s('%s'%s): %s", tmp ? "open(O_TMPFILE)" : "memfd_create",
			    id, huge ? ", MFD_HUGETLB" : "", strerror(errno));
	if (ftruncate(fd, (off_t)size) < 0) {
		fail(e, "ftruncate", errno, fd, "ftruncate memfd '%s' to %llu bytes: %s", id,
		     (unsigned long long)size, strerror(errno));
		goto err;
	}
	if (fill == FILL_FALLOC && size && fallocate(fd, 0, 0, (off_t)size) < 0) {
		fail(e, "fallocate", errno, fd, "fallocate memfd '%s' (%llu bytes): %s", id,
		     (unsigned long long)size, strerror(errno));
		goto err;
	}
	sha256_init(&h);
	pages = (size + PATTERN_PAGE - 1) / PATTERN_PAGE;
	if (size && fill == FILL_PATTERN) {
		map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED) {
			fail(e, "mmap", errno, fd, "mmap memfd '%s' (%llu bytes): %s", id,
			     (unsigned long long)size, strerror(errno));
			goto err;
		}
		for (p = 0; p < pages; p++) {
			uint64_t off = p * PATTERN_PAGE;
			size_t len = size - off < PATTERN_PAGE ? size - off : PATTERN_PAGE;
			pattern_page(seed, p, map + off, len);
			sha256_update(&h, map + off, len);
		}
		munmap(map, size);
	}
	if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		fail(e, "fcntl(F_ADD_SEALS)", errno, fd, "seal memfd '%s': %s", id, strerror(errno));
		goto err;
	}
	memset(m, 0, sizeof(*m));
	m->used = true;
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->fd = fd;
	m->size = size;
	m->seed = seed;
	m->hugetlb = huge;
	m->sealed = seal;
	m->fill = (uint8_t)fill;
	if (fill == FILL_PATTERN)
		sha256_hex(&h, m->sha256);
	else
		memfd_expected_sha(m, m->sha256);
	json_memfd(w, m);
	jw_u64(w, "pages", pages);
	jw_u64(w, "page_size", PATTERN_PAGE);
	jw_u64(w, "elapsed_us", (now_ns(CLOCK_MONOTONIC) - t0) / 1000);
	return 0;
err:
	close(fd);
	return -1;
}

static int v_memfd_preserve(const struct req *r, struct jw *w, struct aerr *e)
{
	struct liveupdate_session_preserve_fd arg = { .size = sizeof(arg) };
	struct session *s = need_session(r, "session", e);
	const char *id;
	struct memfd *m;
	uint64_t token, t0;

	if (!s || req_str(r, "id", &id, e) || req_u64(r, "token", &token, e))
		return -1;
	if (!(m = memfd_find(id)))
		return fail(e, "lookup", ENOENT, -1, "the agent holds no memfd named '%s'", id);
	arg.fd = m->fd;
	arg.token = token;
	t0 = now_ns(CLOCK_MONOTONIC);
	if (ioctl(s->fd, LIVEUPDATE_SESSION_PRESERVE_FD, &arg) < 0) {
		fail(e, "LIVEUPDATE_SESSION_PRESERVE_FD", errno, s->fd,
		     "preserve memfd '%s' (fd %d) in session '%s' with token 0x%llx: %s", id, m->fd,
		     s->name, (unsigned long long)token, strerror(errno));
		e->target_fd = m->fd;
		return -1;
	}
	snprintf(m->session, sizeof(m->session), "%s", s->name);
	m->token = token;
	if (plan_save(e))
		return -1;
	json_memfd(w, m);
	jw_u64(w, "elapsed_us", (now_ns(CLOCK_MONOTONIC) - t0) / 1000);
	return 0;
}

static int v_memfd_retrieve(const struct req *r, struct jw *w, struct aerr *e)
{
	struct liveupdate_session_retrieve_fd arg = { .size = sizeof(arg) };
	struct session *s = need_session(r, "session", e);
	const char *id = req_get(r, "id");
	char autoid[NAME_LEN];
	struct memfd *m = NULL, *slot = NULL;
	struct stat st;
	uint64_t token;
	int i;

	if (!s || req_u64(r, "token", &token, e))
		return -1;
	if (id && check_name("memfd id", id, e))
		return -1;
	for (i = 0; i < MAX_MEMFDS; i++)
		if (g.memfds[i].used && !strcmp(g.memfds[i].session, s->name) && g.memfds[i].token == token)
			m = &g.memfds[i];
	/* Where the fd goes is settled before the kernel hands it out: a retrieved fd is never dropped. */
	if (!m) {
		if (!id) {
			snprintf(autoid, sizeof(autoid), "%.40s-0x%llx", s->name, (unsigned long long)token);
			id = autoid;
		}
		if (memfd_find(id))
			return fail(e, "lookup", EEXIST, -1, "memfd id '%s' is taken; token 0x%llx stays in session '%s'", id,
				    (unsigned long long)token, s->name);
		if (!(slot = memfd_slot()))
			return fail(e, "lookup", ENOSPC, -1, "no memfd '%s': %s; token 0x%llx stays in session '%s'", id,
				    table_full(TABLE_MEMFDS), (unsigned long long)token, s->name);
	}
	arg.token = token;
	if (ioctl(s->fd, LIVEUPDATE_SESSION_RETRIEVE_FD, &arg) < 0)
		return fail(e, "LIVEUPDATE_SESSION_RETRIEVE_FD", errno, s->fd,
			    "retrieve token 0x%llx from session '%s': %s", (unsigned long long)token,
			    s->name, strerror(errno));
	if (m) {
		/* Already held (restored at start): the kernel handed out another reference. */
		close(m->fd);
	} else {
		m = slot;
		memset(m, 0, sizeof(*m));
		m->used = true;
		snprintf(m->id, sizeof(m->id), "%s", id);
		snprintf(m->session, sizeof(m->session), "%s", s->name);
		m->token = token;
		m->restored = true;
	}
	m->fd = arg.fd;
	if (fault_now("fstat") || fstat(m->fd, &st) < 0)
		return fail(e, "fstat", errno, m->fd,
			    "fstat memfd '%s' (token 0x%llx, retrieved from session '%s' as fd %d): %s; the agent holds it, its size unknown",
			    m->id, (unsigned long long)token, s->name, m->fd, strerror(errno));
	m->size = (uint64_t)st.st_size;
	json_memfd(w, m);
	return 0;
}

int memfd_read_range(struct memfd *m, uint64_t off, void *buf, size_t len, struct aerr *e)
{
	ssize_t n = pread(m->fd, buf, len, (off_t)off);

	if (n < 0)
		return fail(e, "pread", errno, m->fd, "read memfd '%s' at %llu: %s", m->id,
			    (unsigned long long)off, strerror(errno));
	if ((size_t)n != len)
		return fail(e, "pread", EIO, m->fd, "short read of memfd '%s' at %llu: %zd of %zu", m->id,
			    (unsigned long long)off, n, len);
	return 0;
}

static int v_memfd_verify(const struct req *r, struct jw *w, struct aerr *e)
{
	const char *id, *fill = NULL, *writes = NULL;
	struct memfd *m;
	/* What every page must hold: the agent's own record, or the caller's (--fill, --writes: a fuzzer's model). */
	static struct memfd view;
	uint64_t seed, size, p, pages, mism = 0, first[8], t0 = now_ns(CLOCK_MONOTONIC);
	uint8_t expect[PATTERN_PAGE], *map = NULL;
	/* Runs of mismatched pages: where, how long, and what the first page should hold and holds. */
	struct { uint64_t first, count, want, got; bool zero; } runs[8];
	int nruns = 0;
	uint64_t more_runs = 0;
	struct sha256 h;
	char hex[65];
	struct stat st;
	int seals, nfirst = 0, i;
	bool sha_ok;

	if (req_str(r, "id", &id, e))
		return -1;
	if (!(m = memfd_find(id)))
		return fail(e, "lookup", ENOENT, -1, "the agent holds no memfd named '%s'", id);
	if (req_u64_opt(r, "seed", m->seed, &seed, e))
		return -1;
	view = *m;
	view.seed = seed;
	if ((fill = req_get(r, "fill"))) {
		if (strcmp(fill, "pattern") && strcmp(fill, "hole"))
			return fail(e, "argument", EINVAL, -1, "--fill is pattern or hole, not '%s'", fill);
		view.fill = strcmp(fill, "hole") ? FILL_PATTERN : FILL_HOLE;
	}
	if ((writes = req_get(r, "writes")) && memfd_extents_parse(&view, writes))
		return fail(e, "argument", EINVAL, -1, "--writes is \"<n> first:pages:seed:zero ...\" with at most %d entries", MAX_EXTENTS);
	m = &view;
	if (fault_now("fstat") || fstat(m->fd, &st) < 0)
		return fail(e, "fstat", errno, m->fd, "fstat memfd '%s': %s", id, strerror(errno));
	size = (uint64_t)st.st_size;
	/* The caller's record is of the file as it is: its hash over the size it has. */
	if (fill || writes) {
		view.size = size;
		memfd_expected_sha(&view, view.sha256);
	}
	pages = (size + PATTERN_PAGE - 1) / PATTERN_PAGE;
	sha256_init(&h);
	if (size) {
		map = mmap(NULL, size, PROT_READ, MAP_SHARED, m->fd, 0);
		if (map == MAP_FAILED)
			return fail(e, "mmap", errno, m->fd, "mmap memfd '%s' (%llu bytes) for reading: %s", id,
				    (unsigned long long)size, strerror(errno));
		/* Every page, never a sample: a single lost page must show. */
		for (p = 0; p < pages; p++) {
			uint64_t off = p * PATTERN_PAGE;
			size_t len = size - off < PATTERN_PAGE ? size - off : PATTERN_PAGE;
			memfd_expected_page(m, seed, p, expect, len);
			if (memcmp(expect, map + off, len)) {
				bool zero = true;
				size_t k;
				for (k = 0; k < len && zero; k++)
					zero = map[off + k] == 0;
				if (nfirst < 8)
					first[nfirst++] = p;
				if (nruns && runs[nruns - 1].first + runs[nruns - 1].count == p && runs[nruns - 1].zero == zero) {
					runs[nruns - 1].count++;
				} else if (nruns < 8) {
					runs[nruns].first = p;
					runs[nruns].count = 1;
					runs[nruns].zero = zero;
					runs[nruns].want = runs[nruns].got = 0;
					memcpy(&runs[nruns].want, expect, len < 8 ? len : 8);
					memcpy(&runs[nruns].got, map + off, len < 8 ? len : 8);
					nruns++;
				} else {
					more_runs++;
				}
				mism++;
			}
			sha256_update(&h, map + off, len);
		}
		munmap(map, size);
	}
	sha256_hex(&h, hex);
	/* The seals are part of what came back: unread, they are a failure, not a null. */
	if (fault_now("F_GET_SEALS") || (seals = fcntl(m->fd, F_GET_SEALS)) < 0)
		return fail(e, "fcntl(F_GET_SEALS)", errno, m->fd, "read the seals of memfd '%s': %s", id, strerror(errno));
	sha_ok = m->sha256[0] && !strcmp(hex, m->sha256);
	jw_str(w, "id", m->id);
	jw_i64(w, "fd", m->fd);
	jw_str(w, "origin", m->restored ? "restored" : "created");
	jw_u64(w, "size", size);
	jw_u64(w, "expected_size", m->size);
	jw_u64(w, "page_size", PATTERN_PAGE);
	jw_u64(w, "pages", pages);
	jw_u64(w, "mismatched_pages", mism);
	jw_arr(w, "first_mismatched_pages");
	for (i = 0; i < nfirst; i++)
		jw_u64(w, NULL, first[i]);
	jw_end_arr(w);
	jw_arr(w, "mismatched_runs");
	for (i = 0; i < nruns; i++) {
		jw_obj(w, NULL);
		jw_u64(w, "first", runs[i].first);
		jw_u64(w, "pages", runs[i].count);
		jw_hex(w, "expected", runs[i].want);
		jw_hex(w, "found", runs[i].got);
		jw_bool(w, "zero", runs[i].zero);
		jw_end_obj(w);
	}
	jw_end_arr(w);
	jw_u64(w, "runs_not_listed", more_runs);
	jw_str(w, "sha256", hex);
	jw_str(w, "expected_sha256", m->sha256[0] ? m->sha256 : NULL);
	jw_bool(w, "sha256_match", sha_ok);
	jw_i64(w, "seals", seals);
	jw_bool(w, "intact", mism == 0 && size == m->size && (sha_ok || !m->sha256[0]));
	jw_u64(w, "elapsed_us", (now_ns(CLOCK_MONOTONIC) - t0) / 1000);
	return 0;
}

static int held_fd(const struct req *r, const char *kind, int *fd, const char **vfio_cdev, struct aerr *e)
{
	int i;

	if (!strcmp(kind, "iommufd")) {
		if (g.iommufd < 0)
			return fail(e, "lookup", ENOENT, -1, "no iommufd is open (run iommufd-open)");
		*fd = g.iommufd;
		return 0;
	}
	if (!strcmp(kind, "vfio")) {
		const char *cdev = req_get(r, "cdev");
		for (i = 0; i < MAX_VFIO; i++)
			if (g.vfio[i].used && (!cdev || !strcmp(cdev, g.vfio[i].cdev))) {
				*fd = g.vfio[i].fd;
				*vfio_cdev = g.vfio[i].cdev;
				return 0;
			}
		return fail(e, "lookup", ENOENT, -1, "no VFIO device fd is open (run vfio-open)");
	}
	if (!strcmp(kind, "memfd")) {
		const char *id;
		struct memfd *m;
		if (req_str(r, "id", &id, e))
			return -1;
		if (!(m = memfd_find(id)))
			return fail(e, "lookup", ENOENT, -1, "the agent holds no memfd named '%s'", id);
		*fd = m->fd;
		return 0;
	}
	return fail(e, "argument", EINVAL, -1, "--fd-kind must be iommufd, vfio or memfd, not '%s'", kind);
}

static int v_fd_preserve(const struct req *r, struct jw *w, struct aerr *e)
{
	struct liveupdate_session_preserve_fd arg = { .size = sizeof(arg) };
	struct session *s = need_session(r, "session", e);
	const char *kind, *cdev = NULL;
	uint64_t token;
	struct held *h = NULL;
	char bdf[32];
	int fd = -1;

	if (!s || req_str(r, "fd-kind", &kind, e) || req_u64(r, "token", &token, e) || held_fd(r, kind, &fd, &cdev, e))
		return -1;
	if (!strcmp(kind, "memfd"))
		return fail(e, "argument", EINVAL, -1, "use memfd-preserve for memfds (it records the plan)");
	/*
	 * Everything the plan needs is settled before PRESERVE_FD: a fd the
	 * kernel carries but the plan leaves out would come back to nobody.
	 */
	if (!(h = held_slot()))
		return fail(e, "lookup", ENOSPC, -1, "%s fd %d not preserved in session '%s' (token 0x%llx): %s", kind, fd,
			    s->name, (unsigned long long)token, table_full(TABLE_HELD));
	/* The plan keeps the device's address: the next kernel binds it to vfio-pci before retrieving the fd. */
	if (cdev && (fault_now("readlink") || vfio_bdf_of_cdev(cdev, bdf, sizeof(bdf))))
		return fail(e, "readlink", errno, -1,
			    "the PCI address of %s (/sys/class/vfio-dev/<vfioN>/device), which the plan must carry: %s; not preserved",
			    cdev, strerror(errno));
	arg.fd = fd;
	arg.token = token;
	if (ioctl(s->fd, LIVEUPDATE_SESSION_PRESERVE_FD, &arg) < 0) {
		fail(e, "LIVEUPDATE_SESSION_PRESERVE_FD", errno, s->fd,
		     "preserve %s fd %d in session '%s' with token 0x%llx: %s", kind, fd, s->name,
		     (unsigned long long)token, strerror(errno));
		e->target_fd = fd;
		return -1;
	}
	memset(h, 0, sizeof(*h));
	h->used = true;
	snprintf(h->kind, sizeof(h->kind), "%s", kind);
	snprintf(h->session, sizeof(h->session), "%s", s->name);
	h->token = token;
	h->fd = fd;
	if (cdev) {
		snprintf(h->cdev, sizeof(h->cdev), "%s", cdev);
		snprintf(h->bdf, sizeof(h->bdf), "%s", bdf);
	}
	if (plan_save(e))
		return -1;
	jw_str(w, "session", s->name);
	jw_str(w, "fd_kind", kind);
	jw_i64(w, "fd", fd);
	jw_hex(w, "token", token);
	jw_str(w, "bdf", h->bdf[0] ? h->bdf : NULL);
	return 0;
}

const struct verb luo_verbs[] = {
	{ "status", v_status, "" },
	{ "session-create", v_session_create, "name" },
	{ "session-retrieve", v_session_retrieve, "name" },
	{ "session-finish", v_session_finish, "name" },
	{ "session-close", v_session_close, "name" },
	{ "memfd-create", v_memfd_create, "name,id,size,seed,hugetlb,seals,tmpfile,fill" },
	{ "memfd-preserve", v_memfd_preserve, "session,id,token" },
	{ "memfd-retrieve", v_memfd_retrieve, "session,token,id" },
	{ "memfd-verify", v_memfd_verify, "id,seed,fill,writes" },
	{ "fd-preserve", v_fd_preserve, "session,fd-kind,token,cdev,id" },
	{ NULL, NULL, NULL },
};
