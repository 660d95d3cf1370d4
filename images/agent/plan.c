/*
 * The agent's plan (sessions, tokens, memfd ids, sizes, seeds, expected hashes)
 * kept as text in a memfd preserved in its own session, so that the daemon of
 * the next kernel can retrieve everything by itself.
 */
#include "agent.h"
#include "restore_order.h"
#include <fcntl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/liveupdate.h>

#define PLAN_MAGIC "luo-agent-plan 1"

int plan_ensure_state(struct aerr *e)
{
	struct liveupdate_ioctl_create_session cs = { .size = sizeof(cs) };
	struct liveupdate_session_preserve_fd pf = { .size = sizeof(pf) };
	int mfd;

	if (g.state_session_fd >= 0 || g.plan_off)
		return 0;
	if (luo_ensure_open(e))
		return -1;
	snprintf((char *)cs.name, sizeof(cs.name), "%s", STATE_SESSION);
	if (ioctl(g.luo_fd, LIVEUPDATE_IOCTL_CREATE_SESSION, &cs) < 0)
		return fail(e, "LIVEUPDATE_IOCTL_CREATE_SESSION", errno, g.luo_fd,
			    "create the agent's state session '%s': %s", STATE_SESSION, strerror(errno));
	mfd = memfd_create(STATE_SESSION, MFD_CLOEXEC);
	if (mfd < 0) {
		fail(e, "memfd_create", errno, -1, "create the state memfd: %s", strerror(errno));
		goto err_session;
	}
	/* The size freezes once preserved, so reserve room for the whole plan now. */
	if (ftruncate(mfd, STATE_SIZE) < 0) {
		fail(e, "ftruncate", errno, mfd, "size the state memfd: %s", strerror(errno));
		goto err_memfd;
	}
	pf.fd = mfd;
	pf.token = STATE_TOKEN;
	if (ioctl(cs.fd, LIVEUPDATE_SESSION_PRESERVE_FD, &pf) < 0) {
		fail(e, "LIVEUPDATE_SESSION_PRESERVE_FD", errno, cs.fd, "preserve the state memfd: %s",
		     strerror(errno));
		e->target_fd = mfd;
		goto err_memfd;
	}
	g.state_session_fd = cs.fd;
	g.state_memfd = mfd;
	return 0;
err_memfd:
	close(mfd);
err_session:
	close(cs.fd);
	return -1;
}

static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len >= cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	*len += n > 0 ? (size_t)n : 0;
}

/* Rewrites the whole plan; only outgoing things belong to the next kernel. */
int plan_save(struct aerr *e)
{
	static char buf[STATE_SIZE];
	char ext[MAX_EXTENTS * 80 + 16];
	size_t len = 0;
	bool any = false;
	int i;

	if (g.plan_off)
		return 0;
	for (i = 0; i < MAX_SESSIONS; i++)
		any |= g.sessions[i].used && !g.sessions[i].incoming;
	if (!any && g.state_memfd < 0)
		return 0;
	if (plan_ensure_state(e))
		return -1;
	append(buf, sizeof(buf), &len, "%s\n", PLAN_MAGIC);
	for (i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &g.sessions[i];
		if (s->used && !s->incoming)
			append(buf, sizeof(buf), &len, "session %s\n", s->name);
	}
	for (i = 0; i < MAX_MEMFDS; i++) {
		struct memfd *m = &g.memfds[i];
		struct session *s;
		if (!m->used || !m->session[0] || !(s = session_find(m->session)) || s->incoming)
			continue;
		if (memfd_extents_text(m, ext, sizeof(ext)))
			return fail(e, "plan", ENOSPC, g.state_memfd, "memfd '%s': its writes do not fit in a plan line", m->id);
		append(buf, sizeof(buf), &len, "memfd %s %s 0x%llx %llu %llu %d %s%s\n", m->id, m->session,
		       (unsigned long long)m->token, (unsigned long long)m->size,
		       (unsigned long long)m->seed,
		       (m->hugetlb ? 1 : 0) | (m->sealed ? 2 : 0) | (m->heartbeat ? 4 : 0) | (m->fill << 3),
		       m->sha256[0] ? m->sha256 : "-", ext);
	}
	for (i = 0; i < MAX_HELD; i++) {
		struct held *h = &g.held[i];
		struct session *s;
		if (!h->used || !(s = session_find(h->session)) || s->incoming)
			continue;
		append(buf, sizeof(buf), &len, "fd %s %s 0x%llx %s\n", h->kind, h->session,
		       (unsigned long long)h->token, h->bdf[0] ? h->bdf : "-");
	}
	if (heartbeat_active())
		append(buf, sizeof(buf), &len, "heartbeat %s %llu\n", heartbeat_memfd_id(),
		       (unsigned long long)heartbeat_interval_us());
	append(buf, sizeof(buf), &len, "end\n");
	if (len >= sizeof(buf))
		return fail(e, "plan", ENOSPC, g.state_memfd, "the plan does not fit in %d bytes", STATE_SIZE);
	if (pwrite(g.state_memfd, buf, len + 1, 0) != (ssize_t)(len + 1))
		return fail(e, "pwrite", errno ? errno : EIO, g.state_memfd, "write the plan: %s",
			    strerror(errno));
	return 0;
}

/* Every error is counted and printed; the first RESTORE_ERRS_LISTED are kept for `status`, which says how many more there were. */
static void restore_fail(const char *what, const struct aerr *e)
{
	struct restore_err *x;

	console_mark("agent-restore-error what=%s op=%s errno=%d errno_name=%s", what, e->op, e->err,
		     errno_name(e->err));
	if (g.n_restore_errs++ >= RESTORE_ERRS_LISTED)
		return;
	x = &g.restore_errs[g.n_restore_errs - 1];
	snprintf(x->what, sizeof(x->what), "%s", what);
	x->e = *e;
}

/* A line of the plan the restore cannot read: reported, never skipped. */
static void plan_line_bad(const char *line, const char *expected)
{
	struct aerr e;

	fail(&e, "plan", EBADMSG, g.state_memfd, "a plan line is not %s: '%.200s'", expected, line);
	restore_fail("plan", &e);
}

/* The plan's lines, for telling a session that failed to come back (already reported) from one the plan never named. */
static char *plan_lines[1024];
static int plan_nlines;

static bool plan_names_session(const char *name)
{
	for (int i = 0; i < plan_nlines; i++)
		if (!strncmp(plan_lines[i], "session ", 8) && !strcmp(plan_lines[i] + 8, name))
			return true;
	return false;
}

/* The incoming session a file line names; NULL (reported when the plan never named it) when it did not come back. */
static struct session *file_session(const char *what, const char *sess)
{
	struct session *s = session_find(sess);
	struct aerr e;

	if (s && s->incoming)
		return s;
	if (!plan_names_session(sess)) {
		fail(&e, "plan", EBADMSG, -1, "the plan names session '%s' for this file but has no line for the session", sess);
		restore_fail(what, &e);
	}
	/* Else its session failed to come back, and that error says so; the file stays in the kernel with it. */
	return NULL;
}

static int retrieve_fd(int session_fd, uint64_t token, int *out, struct aerr *e)
{
	struct liveupdate_session_retrieve_fd arg = { .size = sizeof(arg), .token = token };

	if (ioctl(session_fd, LIVEUPDATE_SESSION_RETRIEVE_FD, &arg) < 0)
		return fail(e, "LIVEUPDATE_SESSION_RETRIEVE_FD", errno, session_fd,
			    "retrieve token 0x%llx: %s", (unsigned long long)token, strerror(errno));
	*out = arg.fd;
	return 0;
}

static struct session *restore_session(const char *name)
{
	struct liveupdate_ioctl_retrieve_session arg = { .size = sizeof(arg) };
	struct session *s;
	char what[96];
	struct aerr e;

	snprintf(what, sizeof(what), "session:%s", name);
	if (!(s = session_slot())) {
		fail(&e, "lookup", ENOSPC, -1, "session '%s' not retrieved: %s; it stays in the kernel with its files", name,
		     table_full(TABLE_SESSIONS));
		restore_fail(what, &e);
		return NULL;
	}
	snprintf((char *)arg.name, sizeof(arg.name), "%s", name);
	if (ioctl(g.luo_fd, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &arg) < 0) {
		fail(&e, "LIVEUPDATE_IOCTL_RETRIEVE_SESSION", errno, g.luo_fd, "retrieve session '%s': %s",
		     name, strerror(errno));
		restore_fail(what, &e);
		return NULL;
	}
	memset(s, 0, sizeof(*s));
	s->used = true;
	s->incoming = true;
	s->fd = arg.fd;
	snprintf(s->name, sizeof(s->name), "%s", name);
	g.restored_sessions++;
	console_mark("agent-retrieved session=%s", name);
	return s;
}

static void restore_memfd(char *line)
{
	char id[NAME_LEN], sess[NAME_LEN], sha[65], what[96];
	unsigned long long token, size, seed;
	int flags, fd, end = 0;
	struct session *s;
	struct memfd *m;
	struct aerr e;

	if (sscanf(line, "memfd %63s %63s %llx %llu %llu %d %64s%n", id, sess, &token, &size, &seed, &flags,
		   sha, &end) != 7) {
		plan_line_bad(line, "'memfd <id> <session> <token> <size> <seed> <flags> <sha256> <writes>'");
		return;
	}
	snprintf(what, sizeof(what), "memfd:%s", id);
	if (!(s = file_session(what, sess)))
		return;
	/* A slot first: a retrieved fd with nowhere to go would be lost for good. */
	if (!(m = memfd_slot())) {
		fail(&e, "lookup", ENOSPC, -1, "memfd '%s' (session '%s', token 0x%llx) not retrieved: %s; it stays in the session",
		     id, sess, token, table_full(TABLE_MEMFDS));
		restore_fail(what, &e);
		return;
	}
	if (retrieve_fd(s->fd, token, &fd, &e)) {
		restore_fail(what, &e);
		return;
	}
	memset(m, 0, sizeof(*m));
	m->used = true;
	m->fd = fd;
	snprintf(m->id, sizeof(m->id), "%s", id);
	snprintf(m->session, sizeof(m->session), "%s", sess);
	m->token = token;
	m->size = size;
	m->seed = seed;
	m->hugetlb = flags & 1;
	m->sealed = flags & 2;
	m->heartbeat = flags & 4;
	m->fill = (uint8_t)((flags >> 3) & 3);
	if (memfd_extents_parse(m, line + end)) {
		/* Without its writes the memfd cannot be checked: say so, keep the fd. */
		fail(&e, "plan", EBADMSG, fd, "the plan's list of writes to memfd '%s' is malformed", id);
		restore_fail(what, &e);
	}
	if (strcmp(sha, "-"))
		snprintf(m->sha256, sizeof(m->sha256), "%s", sha);
	m->restored = true;
	g.restored_files++;
}

/* No held slot for a fd of the plan: reported before anything is retrieved or bound. */
static void held_full(const char *what, const char *kind, const char *sess, unsigned long long token)
{
	struct aerr e;

	fail(&e, "lookup", ENOSPC, -1, "%s fd (session '%s', token 0x%llx) not retrieved: %s; it stays in the session", kind,
	     sess, token, table_full(TABLE_HELD));
	restore_fail(what, &e);
}

/* Takes a retrieved fd into a held slot (zeroed by the caller, or fresh). */
static void hold_restored(struct held *h, int fd, const char *kind, const char *sess, uint64_t token)
{
	h->used = true;
	h->restored = true;
	h->fd = fd;
	h->token = token;
	snprintf(h->kind, sizeof(h->kind), "%s", kind);
	snprintf(h->session, sizeof(h->session), "%s", sess);
	g.restored_files++;
}

static void restore_held(char *line)
{
	char kind[16], sess[NAME_LEN], what[96];
	unsigned long long token;
	struct session *s;
	struct held *h;
	struct aerr e;
	int fd;

	if (sscanf(line, "fd %15s %63s %llx", kind, sess, &token) != 3) {
		plan_line_bad(line, "'fd <kind> <session> <token> [<bdf>]'");
		return;
	}
	snprintf(what, sizeof(what), "fd:%s:%s:0x%llx", kind, sess, token);
	if (!(s = file_session(what, sess)))
		return;
	if (!(h = held_slot())) {
		held_full(what, kind, sess, token);
		return;
	}
	if (retrieve_fd(s->fd, token, &fd, &e)) {
		restore_fail(what, &e);
		return;
	}
	memset(h, 0, sizeof(*h));
	hold_restored(h, fd, kind, sess, token);
}

/*
 * A preserved VFIO device: bind it to vfio-pci first (the kernel hands the
 * device back only through vfio-pci), note what open() of its cdev says
 * while the preserved file still guards it (EBUSY expected), then retrieve
 * its fd. Nothing opens the cdev for use: the retrieved fd is the device.
 */
static void restore_device(char *line)
{
	char kind[16], sess[NAME_LEN], bdf[32], what[160], previous[64];
	unsigned long long token;
	struct session *s;
	struct held *h;
	struct aerr e;
	int fd, guard;

	if (sscanf(line, "fd %15s %63s %llx %31s", kind, sess, &token, bdf) != 4) {
		plan_line_bad(line, "'fd <kind> <session> <token> <bdf>'");
		return;
	}
	snprintf(what, sizeof(what), "device:%s:%s:0x%llx", bdf, sess, token);
	if (!(s = file_session(what, sess)))
		return;
	if (!(h = held_slot())) {
		char dev[96];
		snprintf(dev, sizeof(dev), "VFIO device %s: its %s", bdf, kind);
		held_full(what, dev, sess, token);
		return;
	}
	memset(h, 0, sizeof(*h));
	snprintf(h->bdf, sizeof(h->bdf), "%s", bdf);
	/*
	 * luo_agent.device_bind=late: the negative control of the restore
	 * order. The fd is asked for while the device has no driver, as a
	 * careless VMM would; a kernel that preserves devices must refuse that
	 * (the series' vfio-pci handler finds no VFIO device: ENODEV), and the
	 * refusal is reported like any other restore error.
	 */
	if (cmdline_has(g.cmdline, "luo_agent.device_bind=late")) {
		console_mark("agent-device-bind-late bdf=%s", bdf);
		if (retrieve_fd(s->fd, token, &fd, &e)) {
			snprintf(e.msg + strlen(e.msg), sizeof(e.msg) - strlen(e.msg),
				 " (asked before %s was bound to vfio-pci: luo_agent.device_bind=late)", bdf);
			restore_fail(what, &e);
			return;
		}
		if (vfio_bind_bdf(bdf, h->cdev, sizeof(h->cdev), previous, sizeof(previous), &e)) {
			close(fd);
			restore_fail(what, &e);
			return;
		}
		/* Bound, but after the retrieval: device_bound stays false. */
		hold_restored(h, fd, kind, sess, token);
		return;
	}
	if (vfio_bind_bdf(bdf, h->cdev, sizeof(h->cdev), previous, sizeof(previous), &e)) {
		restore_fail(what, &e);
		return;
	}
	h->device_bound = true;
	guard = open(h->cdev, O_RDWR | O_CLOEXEC);
	h->guard_errno = guard < 0 ? errno : 0;
	if (guard >= 0)
		close(guard);
	if (retrieve_fd(s->fd, token, &fd, &e)) {
		restore_fail(what, &e);
		return;
	}
	hold_restored(h, fd, kind, sess, token);
	console_mark("agent-restored-device bdf=%s cdev=%s previous_driver=%s guard_errno=%d guard_errno_name=%s fd=%d",
		     bdf, h->cdev, previous[0] ? previous : "none", h->guard_errno,
		     h->guard_errno ? errno_name(h->guard_errno) : "none", fd);
}

/*
 * luo_agent.restore_delay_ms=N: a planted slowdown for testing the harness's
 * regression gate. The restore really waits N ms (so the blackout really
 * grows), and says so on the console.
 */
static void restore_delay(void)
{
	const char *p = strstr(g.cmdline, "luo_agent.restore_delay_ms=");
	long ms;

	while (p && p != g.cmdline && p[-1] != ' ')
		p = strstr(p + 1, "luo_agent.restore_delay_ms=");
	if (!p)
		return;
	ms = strtol(p + strlen("luo_agent.restore_delay_ms="), NULL, 10);
	if (ms <= 0 || ms > 600000)
		return;
	console_mark("agent-restore-delay ms=%ld", ms);
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Runs first thing in the daemon: the sooner the state comes back, the shorter the blackout. */
void restore_at_start(void)
{
	struct liveupdate_ioctl_retrieve_session rs = { .size = sizeof(rs) };
	struct liveupdate_session_finish fin = { .size = sizeof(fin) };
	static char plan[STATE_SIZE];
	uint64_t t0 = now_ns(CLOCK_MONOTONIC), hb_interval = 0;
	char *line, *save, hb_id[NAME_LEN] = "";
	unsigned long long hb_interval_ull = 0;
	struct aerr e;
	int mfd;
	ssize_t n;

	/* Where the blackout's userspace-init ends and its restore begins. */
	console_mark("agent-restore-start boot=%ld", g.boot);
	if (luo_ensure_open(&e)) {
		/* Nothing to restore from (a kernel without LUO: ENOENT); `status` keeps the error too. */
		console_mark("agent-restore-skipped op=%s errno=%d errno_name=%s", e.op, e.err, errno_name(e.err));
		return;
	}
	snprintf((char *)rs.name, sizeof(rs.name), "%s", STATE_SESSION);
	if (ioctl(g.luo_fd, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &rs) < 0) {
		if (errno != ENOENT) {
			fail(&e, "LIVEUPDATE_IOCTL_RETRIEVE_SESSION", errno, g.luo_fd,
			     "retrieve the agent's state session: %s", strerror(errno));
			restore_fail("state-session", &e);
		}
		return; /* ENOENT: a cold boot, nothing was handed over */
	}
	g.restore_found = true;
	restore_delay();
	if (retrieve_fd(rs.fd, STATE_TOKEN, &mfd, &e)) {
		restore_fail("state-memfd", &e);
		close(rs.fd);
		return;
	}
	n = pread(mfd, plan, sizeof(plan) - 1, 0);
	plan[n > 0 ? n : 0] = 0;
	if (n < 0) {
		fail(&e, "pread", errno, mfd, "read the plan from the state memfd: %s", strerror(errno));
		restore_fail("plan", &e);
	} else if (strncmp(plan, PLAN_MAGIC "\n", strlen(PLAN_MAGIC) + 1)) {
		fail(&e, "plan", EBADMSG, mfd, "the state memfd does not hold a plan");
		restore_fail("plan", &e);
	} else {
		/* In restore_order()'s order: sessions, devices (bound before their
		 * fd is retrieved), files, heartbeat. With luo_agent.restore=reverse
		 * on the command line each class goes in the opposite order to its
		 * preservation, so a test can show retrieval does not depend on order. */
		char **lines = plan_lines;
		static int order[1024];
		int nl = 0, i, n, rev = cmdline_has(g.cmdline, "luo_agent.restore=reverse");

		for (line = strtok_r(plan, "\n", &save); line && nl < 1024; line = strtok_r(NULL, "\n", &save))
			lines[nl++] = line;
		plan_nlines = nl;
		if (line) {
			fail(&e, "plan", E2BIG, mfd, "the plan has more than %d lines; the restore reads the first %d, from '%.100s' on nothing",
			     nl, nl, line);
			restore_fail("plan", &e);
		}
		n = restore_order(lines, nl, rev, order);
		for (i = 0; i < n; i++) {
			line = lines[order[i]];
			switch (restore_step_of(line)) {
			case STEP_SESSION:
				restore_session(line + 8);
				break;
			case STEP_DEVICE:
				restore_device(line);
				break;
			case STEP_FILE:
				if (!strncmp(line, "memfd ", 6))
					restore_memfd(line);
				else
					restore_held(line);
				break;
			case STEP_HEARTBEAT:
				if (sscanf(line, "heartbeat %63s %llu", hb_id, &hb_interval_ull) != 2) {
					hb_id[0] = 0;
					plan_line_bad(line, "'heartbeat <memfd> <interval_us>'");
				}
				hb_interval = hb_interval_ull;
				break;
			case STEP_NONE:
				break;
			}
		}
	}
	g.restore_tsc = rdtsc_now();
	g.restore_realtime_ns = now_ns(CLOCK_REALTIME);
	g.restore_us = (now_ns(CLOCK_MONOTONIC) - t0) / 1000;
	console_mark("agent-restored sessions=%d tsc=%llu realtime_ns=%llu files=%d errors=%d elapsed_us=%llu",
		     g.restored_sessions, (unsigned long long)g.restore_tsc,
		     (unsigned long long)g.restore_realtime_ns, g.restored_files, g.n_restore_errs,
		     (unsigned long long)g.restore_us);
	if (hb_id[0]) {
		struct memfd *m = memfd_find(hb_id);
		char what[96];
		snprintf(what, sizeof(what), "heartbeat:%s", hb_id);
		if (!m) {
			fail(&e, "lookup", ENOENT, -1, "the heartbeat's memfd '%s' was not restored (its own error says why): the heartbeat is not resumed", hb_id);
			restore_fail(what, &e);
		} else if (heartbeat_resume(m, hb_interval, &e)) {
			restore_fail(what, &e);
		}
	}
	/* The plan is in memory now; a fresh state session is made for the next update. */
	if (ioctl(rs.fd, LIVEUPDATE_SESSION_FINISH, &fin) < 0) {
		fail(&e, "LIVEUPDATE_SESSION_FINISH", errno, rs.fd, "finish the state session: %s",
		     strerror(errno));
		restore_fail("state-finish", &e);
	}
	close(mfd);
	close(rs.fd);
}
