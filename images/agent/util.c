/* Shared helpers: errors, request options, clocks, console markers, lookups. */
#include "agent.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct agent g;

int fail(struct aerr *e, const char *op, int err, int fd, const char *fmt, ...)
{
	va_list ap;

	snprintf(e->op, sizeof(e->op), "%s", op);
	e->err = err;
	e->fd = fd;
	e->target_fd = -1;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static const struct { int n; const char *s; } errnos[] = {
#define E(x) { x, #x }
	E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG),
	E(ENOEXEC), E(EBADF), E(ECHILD), E(EAGAIN), E(ENOMEM), E(EACCES),
	E(EFAULT), E(EBUSY), E(EEXIST), E(EXDEV), E(ENODEV), E(ENOTDIR),
	E(EISDIR), E(EINVAL), E(ENFILE), E(EMFILE), E(ENOTTY), E(ETXTBSY),
	E(EFBIG), E(ENOSPC), E(ESPIPE), E(EROFS), E(EPIPE), E(EDOM), E(ERANGE),
	E(EDEADLK), E(ENAMETOOLONG), E(ENOSYS), E(ENOTEMPTY), E(ELOOP),
	E(ENODATA), E(ETIME), E(EOVERFLOW), E(EBADFD), E(EILSEQ), E(ENOTSOCK),
	E(EMSGSIZE), E(EPROTO), E(EOPNOTSUPP), E(EADDRINUSE),
	E(EADDRNOTAVAIL), E(ENETDOWN), E(ECONNRESET), E(ETIMEDOUT),
	E(ECONNREFUSED), E(EHOSTUNREACH), E(EALREADY), E(EINPROGRESS),
	E(ECANCELED), E(EKEYREJECTED), E(EOWNERDEAD), E(ERFKILL), E(EHWPOISON),
	E(EBADMSG), E(ENOLINK), E(ENOMSG), E(ENOSR), E(ENOSTR), E(EUCLEAN),
	E(EREMOTEIO), E(EDQUOT), E(ENOMEDIUM), E(ENOKEY),
#undef E
};

const char *errno_name(int err)
{
	size_t i;

	for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (errnos[i].n == err)
			return errnos[i].s;
	return "EUNKNOWN";
}

int errno_by_name(const char *name)
{
	char *end;
	long n;
	size_t i;

	for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (!strcmp(errnos[i].s, name))
			return errnos[i].n;
	n = strtol(name, &end, 10);
	return end != name && !*end && n > 0 && n < 4096 ? (int)n : 0;
}

const char *req_get(const struct req *r, const char *k)
{
	int i;

	for (i = 0; i < r->n; i++)
		if (!strcmp(r->keys[i], k))
			return r->vals[i];
	return NULL;
}

int req_str(const struct req *r, const char *k, const char **out, struct aerr *e)
{
	*out = req_get(r, k);
	if (!*out || !**out)
		return fail(e, "argument", EINVAL, -1, "%s needs --%s <value>", r->verb, k);
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long mult = 1, v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -1;
	/* Sizes read better with a suffix: 64M, 4K, 2G. */
	if (*end == 'K' || *end == 'k')
		mult = 1ULL << 10, end++;
	else if (*end == 'M' || *end == 'm')
		mult = 1ULL << 20, end++;
	else if (*end == 'G' || *end == 'g')
		mult = 1ULL << 30, end++;
	if (*end)
		return -1;
	if (v && mult > 1 && v > UINT64_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

int req_u64(const struct req *r, const char *k, uint64_t *out, struct aerr *e)
{
	const char *s = req_get(r, k);

	if (!s || !*s)
		return fail(e, "argument", EINVAL, -1, "%s needs --%s <number>", r->verb, k);
	if (parse_u64(s, out))
		return fail(e, "argument", EINVAL, -1, "--%s: '%s' is not an unsigned number", k, s);
	return 0;
}

int req_u64_opt(const struct req *r, const char *k, uint64_t def, uint64_t *out, struct aerr *e)
{
	if (!req_get(r, k)) {
		*out = def;
		return 0;
	}
	return req_u64(r, k, out, e);
}

bool req_flag(const struct req *r, const char *k)
{
	const char *v = req_get(r, k);

	return v && strcmp(v, "0") && strcmp(v, "false");
}

/* Names go into the plan file as space-separated words, so keep them plain. */
int check_name(const char *what, const char *name, struct aerr *e)
{
	size_t i, n = strlen(name);

	if (n == 0 || n >= NAME_LEN)
		return fail(e, "argument", EINVAL, -1, "%s must be 1..%d characters", what, NAME_LEN - 1);
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return fail(e, "argument", EINVAL, -1, "%s '%s' may only use [A-Za-z0-9._-]", what, name);
	}
	return 0;
}

uint64_t now_ns(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t rdtsc_now(void)
{
#if defined(__x86_64__) || defined(__i386__)
	uint32_t lo, hi;
	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
#else
	return 0;
#endif
}

/* Tests on a workstation point these elsewhere; the guest uses the defaults. */
const char *agent_sock_path(void)
{
	const char *p = getenv("LUO_AGENT_SOCK");

	return p && *p ? p : AGENT_SOCK;
}

const char *console_path(void)
{
	const char *p = getenv("LUO_AGENT_CONSOLE");

	return p && *p ? p : "/dev/console";
}

/* One write per line so kernel printk output can only interleave between lines. */
void console_mark(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n, fd;

	n = snprintf(line, sizeof(line), "LUO-HARNESS-MARK ");
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	fd = open(console_path(), O_WRONLY | O_NOCTTY | O_CLOEXEC | O_APPEND);
	if (fd < 0)
		fd = dup(STDERR_FILENO);
	if (fd >= 0) {
		if (write(fd, line, (size_t)n) < 0) {
			/* nothing better to do: the console is the channel of last resort */
		}
		close(fd);
	}
}

int read_small_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return (int)n;
}

bool cmdline_has(const char *cmdline, const char *arg)
{
	size_t n = strlen(arg);
	const char *p = cmdline;

	while ((p = strstr(p, arg))) {
		if ((p == cmdline || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ' || p[n] == '\n'))
			return true;
		p += n;
	}
	return false;
}

struct session *session_find(const char *name)
{
	int i;

	for (i = 0; i < MAX_SESSIONS; i++)
		if (g.sessions[i].used && !strcmp(g.sessions[i].name, name))
			return &g.sessions[i];
	return NULL;
}

struct memfd *memfd_find(const char *id)
{
	int i;

	for (i = 0; i < MAX_MEMFDS; i++)
		if (g.memfds[i].used && !strcmp(g.memfds[i].id, id))
			return &g.memfds[i];
	return NULL;
}

struct memfd *memfd_slot(void)
{
	int i;

	for (i = 0; i < table_limit(TABLE_MEMFDS); i++)
		if (!g.memfds[i].used)
			return &g.memfds[i];
	return NULL;
}

struct session *session_slot(void)
{
	int i;

	for (i = 0; i < table_limit(TABLE_SESSIONS); i++)
		if (!g.sessions[i].used)
			return &g.sessions[i];
	return NULL;
}

struct held *held_slot(void)
{
	int i;

	for (i = 0; i < table_limit(TABLE_HELD); i++)
		if (!g.held[i].used)
			return &g.held[i];
	return NULL;
}

/* /dev/liveupdate admits one opener; the daemon keeps it for its lifetime. */
int luo_ensure_open(struct aerr *e)
{
	if (g.luo_fd >= 0)
		return 0;
	g.luo_fd = open(LUO_DEVICE, O_RDWR | O_CLOEXEC);
	if (g.luo_fd < 0) {
		int err = errno;
		g.luo_present = access(LUO_DEVICE, F_OK) == 0;
		fail(&g.luo_err, "open", err, -1, "open %s: %s", LUO_DEVICE, strerror(err));
		*e = g.luo_err;
		return -1;
	}
	g.luo_present = true;
	memset(&g.luo_err, 0, sizeof(g.luo_err));
	return 0;
}
