/*
 * Raw verbs for the fuzzer (harness/fuzz): each makes exactly the kernel call
 * its name says and nothing of the agent's own in between. Sessions are
 * addressed by a handle the caller picks (an incoming and an outgoing session
 * may share a name), names go to the kernel as given (empty, at or past the
 * 64-byte limit), and fds the kernel must refuse can be offered. They keep no
 * plan: boot with luo_agent.restore=off, where the caller drives every
 * retrieval itself. Retrieved files join the memfd table, so memfd-verify
 * and memfd-close work on them.
 */
#include "agent.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/liveupdate.h>

#define MAX_RAW 512
/* An fd number no process has open: PRESERVE_FD's fget() fails on it. */
#define BAD_FD (1 << 20)

struct raw_session {
	bool used;
	char handle[NAME_LEN];
	int fd;
	bool incoming;
};

static struct raw_session raws[MAX_RAW];

static struct raw_session *raw_find(const char *handle)
{
	for (int i = 0; i < MAX_RAW; i++)
		if (raws[i].used && !strcmp(raws[i].handle, handle))
			return &raws[i];
	return NULL;
}

static struct raw_session *need_raw(const struct req *r, struct aerr *e)
{
	const char *h;
	struct raw_session *s;

	if (req_str(r, "handle", &h, e))
		return NULL;
	if (!(s = raw_find(h)))
		fail(e, "lookup", ENOENT, -1, "the agent holds no raw session handle '%s'", h);
	return s;
}

/* A fresh handle slot; the handle must be new (it names one session for the caller). */
static struct raw_session *new_raw(const struct req *r, struct aerr *e)
{
	const char *h;

	if (req_str(r, "handle", &h, e) || check_name("handle", h, e))
		return NULL;
	if (raw_find(h)) {
		fail(e, "lookup", EEXIST, -1, "raw session handle '%s' is taken", h);
		return NULL;
	}
	for (int i = 0; i < MAX_RAW; i++)
		if (!raws[i].used) {
			memset(&raws[i], 0, sizeof(raws[i]));
			snprintf(raws[i].handle, sizeof(raws[i].handle), "%s", h);
			return &raws[i];
		}
	fail(e, "lookup", ENOSPC, -1, "too many raw sessions (max %d)", MAX_RAW);
	return NULL;
}

/* The name as the kernel gets it: the first 64 bytes, NUL-terminated only when shorter. */
static int raw_name(const struct req *r, __u8 out[LIVEUPDATE_SESSION_NAME_LENGTH], struct aerr *e)
{
	const char *name = req_get(r, "name");
	size_t n;

	if (!name)
		return fail(e, "argument", EINVAL, -1, "%s needs --name <value> (it may be empty)", r->verb);
	n = strlen(name);
	memset(out, 0, LIVEUPDATE_SESSION_NAME_LENGTH);
	memcpy(out, name, n < LIVEUPDATE_SESSION_NAME_LENGTH ? n : LIVEUPDATE_SESSION_NAME_LENGTH);
	return 0;
}

static void json_raw(struct jw *w, const struct raw_session *s)
{
	jw_str(w, "handle", s->handle);
	jw_i64(w, "fd", s->fd);
	jw_str(w, "direction", s->incoming ? "incoming" : "outgoing");
}

static int v_raw_create(const struct req *r, struct jw *w, struct aerr *e)
{
	struct liveupdate_ioctl_create_session arg = { .size = sizeof(arg) };
	struct raw_session *s = new_raw(r, e);

	if (!s || raw_name(r, arg.name, e) || luo_ensure_open(e))
		return -1;
	if (ioctl(g.luo_fd, LIVEUPDATE_IOCTL_CREATE_SESSION, &arg) < 0)
		return fail(e, "LIVEUPDATE_IOCTL_CREATE_SESSION", errno, g.luo_fd, "create session (%zu-byte name): %s",
			    strlen(req_get(r, "name")), strerror(errno));
	s->used = true;
	s->fd = arg.fd;
	json_raw(w, s);
	return 0;
}

static int v_raw_retrieve(const struct req *r, struct jw *w, struct aerr *e)
{
	struct liveupdate_ioctl_retrieve_session arg = { .size = sizeof(arg) };
	struct raw_session *s = new_raw(r, e);

	if (!s || raw_name(r, arg.name, e) || luo_ensure_open(e))
		return -1;
	if (ioctl(g.luo_fd, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &arg) < 0)
		return fail(e, "LIVEUPDATE_IOCTL_RETRIEVE_SESSION", errno, g.luo_fd, "retrieve session (%zu-byte name): %s",
			    strlen(req_get(r, "name")), strerror(errno));
	s->used = true;
	s->fd = arg.fd;
	s->incoming = true;
	json_raw(w, s);
	return 0;
}

static int v_raw_finish(const struct req *r, struct jw *w, struct aerr *e)
{
	struct liveupdate_session_finish arg = { .size = sizeof(arg) };
	struct raw_session *s = need_raw(r, e);

	if (!s)
		return -1;
	if (ioctl(s->fd, LIVEUPDATE_SESSION_FINISH, &arg) < 0)
		return fail(e, "LIVEUPDATE_SESSION_FINISH", errno, s->fd, "finish session '%s': %s", s->handle,
			    strerror(errno));
	json_raw(w, s);
	return 0;
}

static int v_raw_close(const struct req *r, struct jw *w, struct aerr *e)
{
	struct raw_session *s = need_raw(r, e);

	if (!s)
		return -1;
	json_raw(w, s);
	/* Outgoing: the kernel unpreserves its files. Incoming: the kernel finishes it. */
	if (close(s->fd) < 0)
		return fail(e, "close", errno, s->fd, "close session '%s': %s", s->handle, strerror(errno));
	s->used = false;
	return 0;
}

static int v_raw_name(const struct req *r, struct jw *w, struct aerr *e)
{
#ifdef LIVEUPDATE_SESSION_GET_NAME
	struct liveupdate_session_get_name arg = { .size = sizeof(arg) };
	struct raw_session *s = need_raw(r, e);

	if (!s)
		return -1;
	if (ioctl(s->fd, LIVEUPDATE_SESSION_GET_NAME, &arg) < 0)
		return fail(e, "LIVEUPDATE_SESSION_GET_NAME", errno, s->fd, "name of session '%s': %s", s->handle,
			    strerror(errno));
	arg.name[sizeof(arg.name) - 1] = 0;
	json_raw(w, s);
	jw_str(w, "name", (const char *)arg.name);
	return 0;
#else
	(void)r; (void)w;
	return fail(e, "LIVEUPDATE_SESSION_GET_NAME", ENOTTY, -1, "these uapi headers have no LIVEUPDATE_SESSION_GET_NAME");
#endif
}

/* An fd of a kind the kernel has no preservation handler for (or no fd at all). */
static int open_kind(const char *kind, const struct raw_session *s, int *fd, bool *owned, struct aerr *e)
{
	int p[2];

	*owned = true;
	if (!strcmp(kind, "pipe")) {
		if (pipe2(p, O_CLOEXEC) < 0)
			return fail(e, "pipe2", errno, -1, "pipe: %s", strerror(errno));
		close(p[1]);
		*fd = p[0];
	} else if (!strcmp(kind, "socket")) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
			return fail(e, "socketpair", errno, -1, "socketpair: %s", strerror(errno));
		close(p[1]);
		*fd = p[0];
	} else if (!strcmp(kind, "devnull")) {
		if ((*fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
			return fail(e, "open", errno, -1, "open /dev/null: %s", strerror(errno));
	} else if (!strcmp(kind, "tmpfs-file")) {
		/* A linked tmpfs file: shmem, but it has a name, which the memfd handler refuses. */
		if ((*fd = open("/dev/shm/luo-agent-linked", O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
			return fail(e, "open", errno, -1, "open a tmpfs file: %s", strerror(errno));
	} else if (!strcmp(kind, "dir")) {
		if ((*fd = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			return fail(e, "open", errno, -1, "open /dev/shm: %s", strerror(errno));
	} else if (!strcmp(kind, "liveupdate")) {
		if (luo_ensure_open(e))
			return -1;
		*fd = g.luo_fd;
		*owned = false;
	} else if (!strcmp(kind, "session")) {
		*fd = s->fd;
		*owned = false;
	} else if (!strcmp(kind, "badfd")) {
		*fd = BAD_FD;
		*owned = false;
	} else {
		return fail(e, "argument", EINVAL, -1,
			    "--kind must be pipe, socket, devnull, tmpfs-file, dir, liveupdate, session or badfd, not '%s'", kind);
	}
	return 0;
}

static int v_raw_preserve(const struct req *r, struct jw *w, struct aerr *e)
{
	struct liveupdate_session_preserve_fd arg = { .size = sizeof(arg) };
	struct raw_session *s = need_raw(r, e);
	const char *id = req_get(r, "memfd"), *kind = req_get(r, "kind");
	struct memfd *m = NULL;
	bool owned = false;
	uint64_t token;
	int fd = -1, rc = 0;

	if (!s || req_u64(r, "token", &token, e))
		return -1;
	if (!id == !kind)
		return fail(e, "argument", EINVAL, -1, "raw-preserve needs exactly one of --memfd ID or --kind K");
	if (id) {
		if (!(m = memfd_find(id)))
			return fail(e, "lookup", ENOENT, -1, "the agent holds no memfd named '%s'", id);
		fd = m->fd;
		if (req_flag(r, "reopen")) {
			/* Another open file of the same inode: LUO keys memfds by inode, not by file. */
			char path[64];
			snprintf(path, sizeof(path), "/proc/self/fd/%d", m->fd);
			if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
				return fail(e, "open", errno, -1, "reopen memfd '%s' through %s: %s", id, path, strerror(errno));
			owned = true;
		}
	} else if (open_kind(kind, s, &fd, &owned, e)) {
		return -1;
	}
	arg.fd = fd;
	arg.token = token;
	if (ioctl(s->fd, LIVEUPDATE_SESSION_PRESERVE_FD, &arg) < 0) {
		fail(e, "LIVEUPDATE_SESSION_PRESERVE_FD", errno, s->fd, "preserve %s%s (fd %d) in session '%s' with token 0x%llx: %s",
		     id ? "memfd " : "a ", id ? id : kind, fd, s->handle, (unsigned long long)token, strerror(errno));
		e->target_fd = fd;
		rc = -1;
	} else {
		json_raw(w, s);
		jw_hex(w, "token", token);
		jw_str(w, "target", id ? id : kind);
		jw_i64(w, "target_fd", fd);
	}
	/* Accepted or not, the kernel holds its own reference to what it took. */
	if (owned)
		close(fd);
	return rc;
}

static int v_raw_retrieve_fd(const struct req *r, struct jw *w, struct aerr *e)
{
	struct liveupdate_session_retrieve_fd arg = { .size = sizeof(arg) };
	struct raw_session *s = need_raw(r, e);
	struct memfd *m = NULL;
	const char *id;
	uint64_t token;
	struct stat st;
	int seals;

	if (!s || req_u64(r, "token", &token, e) || req_str(r, "id", &id, e) || check_name("memfd id", id, e))
		return -1;
	/* Checked before the call, so a refusal here leaves the kernel untouched. */
	if (memfd_find(id))
		return fail(e, "lookup", EEXIST, -1, "memfd id '%s' is taken", id);
	if (!(m = memfd_slot()))
		return fail(e, "lookup", ENOSPC, -1, "no memfd '%s': %s; token 0x%llx stays in session '%s'", id,
			    table_full(TABLE_MEMFDS), (unsigned long long)token, s->handle);
	arg.token = token;
	if (ioctl(s->fd, LIVEUPDATE_SESSION_RETRIEVE_FD, &arg) < 0)
		return fail(e, "LIVEUPDATE_SESSION_RETRIEVE_FD", errno, s->fd, "retrieve token 0x%llx from session '%s': %s",
			    (unsigned long long)token, s->handle, strerror(errno));
	memset(m, 0, sizeof(*m));
	m->used = true;
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->fd = arg.fd;
	m->token = token;
	m->restored = true;
	/* The file is retrieved and held whatever follows; what could not be read of it fails the reply. */
	if (fault_now("fstat") || fstat(m->fd, &st) < 0)
		return fail(e, "fstat", errno, m->fd,
			    "fstat the file of token 0x%llx (retrieved from session '%s' as memfd '%s', fd %d): %s; the agent holds it, its size unknown",
			    (unsigned long long)token, s->handle, m->id, m->fd, strerror(errno));
	m->size = (uint64_t)st.st_size;
	if (fault_now("F_GET_SEALS") || (seals = fcntl(m->fd, F_GET_SEALS)) < 0)
		return fail(e, "fcntl(F_GET_SEALS)", errno, m->fd,
			    "read the seals of the file of token 0x%llx (retrieved from session '%s' as memfd '%s', fd %d): %s; the agent holds it",
			    (unsigned long long)token, s->handle, m->id, m->fd, strerror(errno));
	json_raw(w, s);
	jw_hex(w, "token", token);
	jw_str(w, "id", m->id);
	jw_i64(w, "memfd_fd", m->fd);
	jw_u64(w, "size", m->size);
	jw_i64(w, "seals", seals);
	return 0;
}

/* ftruncate(): LUO freezes the size of a preserved memfd (shmem_setattr says EPERM) until it is unpreserved. */
static int v_memfd_truncate(const struct req *r, struct jw *w, struct aerr *e)
{
	const char *id;
	struct memfd *m;
	uint64_t size;
	struct stat st;

	if (req_str(r, "id", &id, e) || req_u64(r, "size", &size, e))
		return -1;
	if (!(m = memfd_find(id)))
		return fail(e, "lookup", ENOENT, -1, "the agent holds no memfd named '%s'", id);
	if (ftruncate(m->fd, (off_t)size) < 0)
		return fail(e, "ftruncate", errno, m->fd, "ftruncate memfd '%s' to %llu bytes: %s", id, (unsigned long long)size,
			    strerror(errno));
	/* The hash taken at creation no longer describes the content. */
	m->sha256[0] = 0;
	if (fault_now("fstat") || fstat(m->fd, &st) < 0)
		return fail(e, "fstat", errno, m->fd, "fstat memfd '%s' after ftruncate to %llu bytes: %s; its size is unknown",
			    id, (unsigned long long)size, strerror(errno));
	m->size = (uint64_t)st.st_size;
	jw_str(w, "id", m->id);
	jw_i64(w, "fd", m->fd);
	jw_u64(w, "size", m->size);
	return 0;
}

static int v_memfd_close(const struct req *r, struct jw *w, struct aerr *e)
{
	const char *id;
	struct memfd *m;

	if (req_str(r, "id", &id, e))
		return -1;
	if (!(m = memfd_find(id)))
		return fail(e, "lookup", ENOENT, -1, "the agent holds no memfd named '%s'", id);
	if (m->heartbeat)
		return fail(e, "argument", EBUSY, -1, "memfd '%s' is the heartbeat's", id);
	jw_str(w, "id", m->id);
	jw_i64(w, "fd", m->fd);
	/* A preserved memfd lives on: the kernel holds its own reference. The fd is gone even when close() fails. */
	m->used = false;
	if (close(m->fd) < 0)
		return fail(e, "close", errno, m->fd, "close memfd '%s': %s (the agent no longer holds it)", id, strerror(errno));
	return 0;
}

/* Closes every raw session and every memfd (not the heartbeat's): a clean slate for the next program. */
static int v_raw_reset(const struct req *r, struct jw *w, struct aerr *e)
{
	int sessions = 0, memfds = 0, i;

	(void)r; (void)e;
	/* Newest first, as a process exit would not promise but a person would expect. */
	for (i = MAX_RAW - 1; i >= 0; i--)
		if (raws[i].used) {
			close(raws[i].fd);
			raws[i].used = false;
			sessions++;
		}
	for (i = 0; i < MAX_MEMFDS; i++)
		if (g.memfds[i].used && !g.memfds[i].heartbeat) {
			close(g.memfds[i].fd);
			g.memfds[i].used = false;
			memfds++;
		}
	jw_i64(w, "sessions", sessions);
	jw_i64(w, "memfds", memfds);
	return 0;
}

const struct verb raw_verbs[] = {
	{ "raw-session-create", v_raw_create, "handle,name" },
	{ "raw-session-retrieve", v_raw_retrieve, "handle,name" },
	{ "raw-session-finish", v_raw_finish, "handle" },
	{ "raw-session-close", v_raw_close, "handle" },
	{ "raw-session-name", v_raw_name, "handle" },
	{ "raw-preserve", v_raw_preserve, "handle,token,memfd,kind,reopen" },
	{ "raw-retrieve", v_raw_retrieve_fd, "handle,token,id" },
	{ "raw-reset", v_raw_reset, "" },
	{ "memfd-close", v_memfd_close, "id" },
	{ "memfd-truncate", v_memfd_truncate, "id,size" },
	{ NULL, NULL, NULL },
};
