/*
 * A workload stand-in: a thread stamps CLOCK_REALTIME and the TSC into a
 * preserved memfd page at a fixed interval until the machine freezes. The next
 * kernel's daemon resumes it on the same page, so the largest gap between two
 * stamps is the blackout as a running workload perceives it.
 */
#include "agent.h"
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/liveupdate.h>

#define HB_MAGIC 0x4c554f4842454154ULL /* "LUOHBEAT" */

struct hb_page {
	uint64_t magic;
	uint64_t interval_ns;
	uint64_t count;
	uint64_t last_rt_ns;
	uint64_t last_tsc;
	uint64_t max_gap_ns;
	uint64_t max_gap_at_rt_ns;
	uint64_t generation; /* bumped by each resume after a kexec */
	uint64_t before_freeze_rt_ns;
	uint64_t before_freeze_tsc;
	uint64_t after_restore_rt_ns;
	uint64_t after_restore_tsc;
};

static volatile struct hb_page *hb;
static struct memfd *hb_memfd;
static pthread_t hb_thread;
static bool hb_running;
/* Why the heartbeat of the plan was not resumed after the live update: heartbeat-report says it. */
static struct aerr hb_resume_err;
static bool hb_resume_failed;

static void *hb_loop(void *arg)
{
	struct timespec ts;

	(void)arg;
	for (;;) {
		uint64_t rt = now_ns(CLOCK_REALTIME), tsc = rdtsc_now();
		if (hb->count && rt > hb->last_rt_ns && rt - hb->last_rt_ns > hb->max_gap_ns) {
			hb->max_gap_ns = rt - hb->last_rt_ns;
			hb->max_gap_at_rt_ns = rt;
		}
		if (hb->generation && !hb->after_restore_rt_ns) {
			hb->after_restore_rt_ns = rt;
			hb->after_restore_tsc = tsc;
		}
		hb->last_tsc = tsc;
		hb->last_rt_ns = rt;
		hb->count++;
		ts.tv_sec = (time_t)(hb->interval_ns / 1000000000ULL);
		ts.tv_nsec = (long)(hb->interval_ns % 1000000000ULL);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int hb_map_and_run(struct memfd *m, struct aerr *e)
{
	void *p = mmap(NULL, PATTERN_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	int err;

	if (p == MAP_FAILED)
		return fail(e, "mmap", errno, m->fd, "map the heartbeat page of memfd '%s': %s", m->id, strerror(errno));
	hb = p; /* before the thread starts: it stamps through it */
	hb_memfd = m;
	err = fault_now("pthread_create") ? errno : pthread_create(&hb_thread, NULL, hb_loop, NULL);
	if (err) {
		hb = NULL;
		hb_memfd = NULL;
		munmap(p, PATTERN_PAGE);
		return fail(e, "pthread_create", err, -1, "start the heartbeat thread over memfd '%s': %s", m->id, strerror(err));
	}
	hb_running = true;
	return 0;
}

static int resume_failed(struct aerr *e)
{
	/* The message says which live update it was about: heartbeat-report hands it on. */
	snprintf(e->msg + strlen(e->msg), sizeof(e->msg) - strlen(e->msg), " (resuming the heartbeat after the live update)");
	hb_resume_err = *e;
	hb_resume_failed = true;
	return -1;
}

int heartbeat_resume(struct memfd *m, uint64_t interval_us, struct aerr *e)
{
	void *p = mmap(NULL, PATTERN_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	volatile struct hb_page *pg = p;

	if (p == MAP_FAILED) {
		fail(e, "mmap", errno, m->fd, "map the heartbeat page of memfd '%s': %s", m->id, strerror(errno));
		return resume_failed(e);
	}
	if (pg->magic != HB_MAGIC) {
		fail(e, "heartbeat", EBADMSG, m->fd, "memfd '%s' holds no heartbeat page: 0x%llx where the magic 0x%llx belongs",
		     m->id, (unsigned long long)pg->magic, (unsigned long long)HB_MAGIC);
		munmap(p, PATTERN_PAGE);
		return resume_failed(e);
	}
	pg->before_freeze_rt_ns = pg->last_rt_ns;
	pg->before_freeze_tsc = pg->last_tsc;
	pg->after_restore_rt_ns = 0;
	pg->after_restore_tsc = 0;
	pg->generation++;
	if (interval_us)
		pg->interval_ns = interval_us * 1000;
	munmap(p, PATTERN_PAGE);
	if (hb_map_and_run(m, e))
		return resume_failed(e);
	return 0;
}

bool heartbeat_active(void)
{
	return hb_running;
}

const char *heartbeat_memfd_id(void)
{
	return hb_memfd ? hb_memfd->id : "";
}

uint64_t heartbeat_interval_us(void)
{
	return hb ? hb->interval_ns / 1000 : 0;
}

void heartbeat_json(struct jw *w)
{
	if (!hb) {
		jw_null(w, "heartbeat");
		return;
	}
	jw_obj(w, "heartbeat");
	jw_str(w, "memfd", hb_memfd->id);
	jw_bool(w, "running", hb_running);
	jw_u64(w, "interval_us", hb->interval_ns / 1000);
	jw_u64(w, "count", hb->count);
	jw_u64(w, "generation", hb->generation);
	jw_u64(w, "max_gap_ns", hb->max_gap_ns);
	jw_u64(w, "max_gap_at_realtime_ns", hb->max_gap_at_rt_ns);
	jw_u64(w, "last_realtime_ns", hb->last_rt_ns);
	if (hb->generation && hb->after_restore_rt_ns) {
		jw_u64(w, "before_freeze_realtime_ns", hb->before_freeze_rt_ns);
		jw_u64(w, "after_restore_realtime_ns", hb->after_restore_rt_ns);
		jw_u64(w, "restore_gap_ns", hb->after_restore_rt_ns - hb->before_freeze_rt_ns);
		jw_u64(w, "restore_gap_tsc", hb->after_restore_tsc - hb->before_freeze_tsc);
	} else {
		jw_null(w, "before_freeze_realtime_ns");
		jw_null(w, "after_restore_realtime_ns");
		jw_null(w, "restore_gap_ns");
		jw_null(w, "restore_gap_tsc");
	}
	jw_end_obj(w);
}

static int v_heartbeat_start(const struct req *r, struct jw *w, struct aerr *e)
{
	struct liveupdate_session_preserve_fd arg = { .size = sizeof(arg) };
	const char *sname;
	struct session *s;
	struct memfd *m = NULL;
	uint64_t interval, token;
	volatile struct hb_page *pg;
	void *p;
	int fd;

	if (req_str(r, "session", &sname, e) || req_u64_opt(r, "interval-us", 1000, &interval, e) ||
	    req_u64_opt(r, "token", HEARTBEAT_TOKEN_DEFAULT, &token, e))
		return -1;
	if (hb)
		return fail(e, "lookup", EALREADY, -1, "a heartbeat is already running");
	if (!interval)
		return fail(e, "argument", EINVAL, -1, "--interval-us must be positive");
	if (!(s = session_find(sname)))
		return fail(e, "lookup", ENOENT, -1, "the agent holds no session named '%s'", sname);
	if (memfd_find("heartbeat"))
		return fail(e, "lookup", EEXIST, -1, "a memfd named 'heartbeat' already exists");
	if (!(m = memfd_slot()))
		return fail(e, "lookup", ENOSPC, -1, "no memfd for the heartbeat: %s", table_full(TABLE_MEMFDS));
	fd = memfd_create("heartbeat", MFD_CLOEXEC);
	if (fd < 0)
		return fail(e, "memfd_create", errno, -1, "create the heartbeat memfd: %s", strerror(errno));
	if (ftruncate(fd, PATTERN_PAGE) < 0) {
		fail(e, "ftruncate", errno, fd, "size the heartbeat memfd: %s", strerror(errno));
		close(fd);
		return -1;
	}
	p = mmap(NULL, PATTERN_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fail(e, "mmap", errno, fd, "map the heartbeat memfd: %s", strerror(errno));
		close(fd);
		return -1;
	}
	pg = p;
	pg->magic = HB_MAGIC;
	pg->interval_ns = interval * 1000;
	munmap(p, PATTERN_PAGE);
	arg.fd = fd;
	arg.token = token;
	if (ioctl(s->fd, LIVEUPDATE_SESSION_PRESERVE_FD, &arg) < 0) {
		fail(e, "LIVEUPDATE_SESSION_PRESERVE_FD", errno, s->fd,
		     "preserve the heartbeat memfd (fd %d) in session '%s': %s", fd, s->name, strerror(errno));
		e->target_fd = fd;
		close(fd);
		return -1;
	}
	memset(m, 0, sizeof(*m));
	m->used = true;
	m->heartbeat = true;
	m->fd = fd;
	m->size = PATTERN_PAGE;
	m->token = token;
	snprintf(m->id, sizeof(m->id), "heartbeat");
	snprintf(m->session, sizeof(m->session), "%s", s->name);
	if (hb_map_and_run(m, e) || plan_save(e))
		return -1;
	hb_resume_failed = false; /* a fresh heartbeat runs: the old one's failure stays in the restore's errors */
	jw_str(w, "session", s->name);
	jw_str(w, "memfd", m->id);
	jw_hex(w, "token", token);
	jw_u64(w, "interval_us", interval);
	return 0;
}

static int v_heartbeat_report(const struct req *r, struct jw *w, struct aerr *e)
{
	(void)r;
	if (!hb && hb_resume_failed) {
		*e = hb_resume_err;
		return -1;
	}
	if (!hb)
		return fail(e, "lookup", ENOENT, -1, "no heartbeat is running (heartbeat-start first)");
	heartbeat_json(w);
	return 0;
}

const struct verb hb_verbs[] = {
	{ "heartbeat-start", v_heartbeat_start, "session,interval-us,token" },
	{ "heartbeat-report", v_heartbeat_report, "" },
	{ NULL, NULL, NULL },
};
