/*
 * luo-agent: `luo-agent daemon` owns /dev/liveupdate and every preserved fd and
 * serves requests on a UNIX socket; `luo-agent <verb> [--key value ...]` sends
 * one request and prints the daemon's single JSON object.
 *
 * Wire format (both directions over one SOCK_STREAM connection): the client
 * sends NUL-terminated words "verb", then key/value pairs, then shuts down its
 * write side; the daemon answers with one JSON line and closes. The clients
 * (one request, or a relay of many over one SSH channel) are in client.c.
 */
#include "agent.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQ 65536

static const struct verb *const verb_tables[] = { luo_verbs, iommu_verbs, kexec_verbs, hb_verbs, raw_verbs, content_verbs, vmram_verbs };

static const struct verb *find_verb(const char *name)
{
	size_t t;
	const struct verb *v;

	for (t = 0; t < sizeof(verb_tables) / sizeof(verb_tables[0]); t++)
		for (v = verb_tables[t]; v->name; v++)
			if (!strcmp(v->name, name))
				return v;
	return NULL;
}

static bool key_allowed(const char *keys, const char *k)
{
	size_t n = strlen(k);
	const char *p = keys;

	while (*p) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len == n && !strncmp(p, k, n))
			return true;
		if (!c)
			break;
		p = c + 1;
	}
	return false;
}

void error_json(struct jw *w, const char *verb, const struct aerr *e)
{
	jw_reset(w);
	jw_obj(w, NULL);
	jw_bool(w, "ok", false);
	jw_str(w, "verb", verb);
	jw_obj(w, "error");
	jw_str(w, "op", e->op);
	jw_i64(w, "errno", e->err);
	jw_str(w, "errno_name", errno_name(e->err));
	jw_str(w, "message", e->msg);
	if (e->fd >= 0)
		jw_i64(w, "fd", e->fd);
	else
		jw_null(w, "fd");
	if (e->target_fd >= 0)
		jw_i64(w, "target_fd", e->target_fd);
	else
		jw_null(w, "target_fd");
	jw_end_obj(w);
	jw_end_obj(w);
}

static void dispatch(struct req *r, struct jw *w)
{
	const struct verb *v = find_verb(r->verb);
	struct aerr e;
	int i;

	memset(&e, 0, sizeof(e));
	if (!v) {
		fail(&e, "argument", EINVAL, -1, "unknown verb '%s'", r->verb);
		error_json(w, r->verb, &e);
		return;
	}
	for (i = 0; i < r->n; i++)
		if (!key_allowed(v->keys, r->keys[i])) {
			fail(&e, "argument", EINVAL, -1, "%s does not take --%s (it takes: %s)", r->verb, r->keys[i],
			     *v->keys ? v->keys : "no options");
			error_json(w, r->verb, &e);
			return;
		}
	jw_reset(w);
	jw_obj(w, NULL);
	jw_bool(w, "ok", true);
	jw_str(w, "verb", r->verb);
	if (v->fn(r, w, &e)) {
		error_json(w, r->verb, &e);
		return;
	}
	jw_end_obj(w);
}

static int parse_wire(char *buf, size_t len, struct req *r)
{
	const char *words[1 + 2 * 32];
	size_t i, start = 0;
	int n = 0;

	for (i = 0; i < len; i++)
		if (!buf[i]) {
			if (n >= (int)(sizeof(words) / sizeof(words[0])))
				return -1;
			words[n++] = buf + start;
			start = i + 1;
		}
	if (n < 1 || n % 2 == 0)
		return -1;
	r->verb = words[0];
	r->n = (n - 1) / 2;
	for (i = 0; i < (size_t)r->n; i++) {
		r->keys[i] = words[1 + 2 * i];
		r->vals[i] = words[2 + 2 * i];
	}
	return 0;
}

int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0) {
			errno = EIO;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void serve_one(int c, struct jw *w)
{
	static char buf[MAX_REQ];
	struct timeval tv = { 5, 0 };
	size_t len = 0;
	struct req r;
	ssize_t k;

	struct aerr e;
	bool unread = false;

	/* Without the timeout a client that never shuts down its side would hold the daemon. */
	if (setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		console_mark("agent-error op=setsockopt errno=%d errno_name=%s what=SO_RCVTIMEO", errno, errno_name(errno));
	while (len < sizeof(buf) && (k = read(c, buf + len, sizeof(buf) - len)) != 0) {
		if (k < 0) {
			if (errno == EINTR)
				continue;
			fail(&e, "read", errno, c, "read the request (%zu bytes so far): %s%s", len, strerror(errno),
			     errno == EAGAIN ? " (the client did not finish it within 5 s)" : "");
			unread = true;
			break;
		}
		len += (size_t)k;
	}
	memset(&r, 0, sizeof(r));
	if (unread) {
		error_json(w, "", &e);
	} else if (parse_wire(buf, len, &r)) {
		fail(&e, "argument", EINVAL, -1, "malformed request (%zu bytes)", len);
		error_json(w, "", &e);
	} else {
		dispatch(&r, w);
	}
	/* The client is the reply's only reader: when it is gone, the console says so. */
	if (write_all(c, w->buf, w->len) || write_all(c, "\n", 1))
		console_mark("agent-error op=write errno=%d errno_name=%s what=reply verb=%s", errno, errno_name(errno),
			     r.verb && *r.verb ? r.verb : "-");
}

/* The CLI closes its end once it has printed the reply. */
static void wait_peer_close(int c, int ms)
{
	struct pollfd p = { .fd = c, .events = POLLIN };
	char b[64];

	shutdown(c, SHUT_WR);
	while (poll(&p, 1, ms) > 0 && read(c, b, sizeof(b)) > 0)
		;
}

/* The kernel's command line: the switches (luo_agent.*) come from there; LUO_AGENT_CMDLINE stands in off the guest. */
static void read_cmdline(void)
{
	const char *env = getenv("LUO_AGENT_CMDLINE");

	if (env) {
		snprintf(g.cmdline, sizeof(g.cmdline), "%s", env);
		return;
	}
	if (read_small_file("/proc/cmdline", g.cmdline, sizeof(g.cmdline)) < 0) {
		/* Every luo_agent.* switch is off without it: say so rather than run as if none was given. */
		console_mark("agent-error op=read errno=%d errno_name=%s what=/proc/cmdline", errno, errno_name(errno));
		g.cmdline[0] = 0;
	}
}

static long boot_from_cmdline(const char *cmdline)
{
	const char *p = strstr(cmdline, "luo_harness.boot=");

	while (p && p != cmdline && p[-1] != ' ')
		p = strstr(p + 1, "luo_harness.boot=");
	return p ? strtol(p + strlen("luo_harness.boot="), NULL, 10) : -1;
}

/* The ready pipe of a forked daemon: its starter prints what comes through it. */
static int starter_fd = -1;

/* A daemon that cannot start says why on the console (init's log) and to its starter (stderr). */
static void daemon_error(const char *op, int err, const char *what)
{
	char line[512];

	console_mark("agent-error op=%s errno=%d errno_name=%s", op, err, errno_name(err));
	snprintf(line, sizeof(line), "luo-agent daemon: %s failed with %s (%d): %s: %s\n", op, errno_name(err), err, what,
		 strerror(err));
	if (starter_fd < 0 || write_all(starter_fd, line, strlen(line)))
		fputs(line, stderr);
}

static int listen_socket(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = agent_sock_path(), *op = NULL;
	int s, err;

	/* Only the default socket lives in /run; an absent /run makes bind() fail below, named. */
	if (!strcmp(path, AGENT_SOCK) && mkdir("/run", 0755) < 0 && errno != EEXIST)
		console_mark("agent-error op=mkdir errno=%d errno_name=%s what=/run", errno, errno_name(errno));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* A stale socket from an earlier daemon (none answers: daemon_running() asked). */
	if (unlink(path) < 0 && errno != ENOENT) {
		daemon_error("unlink", errno, path);
		return -1;
	}
	s = fault_now("socket") ? -1 : socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		op = "socket";
	else if (fault_now("bind") || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		op = "bind";
	else if (fault_now("listen") || listen(s, 16) < 0)
		op = "listen";
	else if (fault_now("chmod") || chmod(path, 0600) < 0)
		op = "chmod"; /* the socket must not answer other users */
	if (op) {
		err = errno;
		daemon_error(op, err, path);
		if (s >= 0)
			close(s);
		return -1;
	}
	return s;
}

static bool daemon_running(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool up;

	if (s < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", agent_sock_path());
	up = connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(s);
	return up;
}

static int daemon_main(int argc, char **argv)
{
	bool foreground = false;
	int ready[2] = { -1, -1 }, s, i, accept_err = 0;
	struct jw w;

	for (i = 2; i < argc; i++)
		if (!strcmp(argv[i], "--foreground"))
			foreground = true;
	signal(SIGPIPE, SIG_IGN);
	memset(&g, 0, sizeof(g));
	g.luo_fd = g.iommufd = g.state_session_fd = g.state_memfd = -1;
	read_cmdline();
	g.boot = boot_from_cmdline(g.cmdline);
	/* Before the fork: a planted pipe or fork failure is the starter's to report. */
	switches_read(g.cmdline);
	if (daemon_running()) {
		/* Binding anew would steal the socket from the daemon that holds the sessions. */
		fprintf(stderr, "luo-agent: a daemon already answers on %s\n", agent_sock_path());
		return 1;
	}
	if (!foreground) {
		/* The parent returns only once the socket is up, so init can go on deterministically. */
		char b[512];
		size_t got = 0;
		pid_t pid;
		ssize_t n = 0;
		if (fault_now("pipe") || pipe(ready) < 0) {
			daemon_error("pipe", errno, "the pipe the daemon says it is ready on");
			return 1;
		}
		pid = fault_now("fork") ? -1 : fork();
		if (pid < 0) {
			daemon_error("fork", errno, "the daemon's process");
			return 1;
		}
		if (pid > 0) {
			/* "R" once the socket is up; else the daemon's reason, then EOF as it exits. */
			close(ready[1]);
			while (got < sizeof(b) - 1 && (got == 0 || b[0] != 'R') &&
			       ((n = read(ready[0], b + got, sizeof(b) - 1 - got)) > 0 || (n < 0 && errno == EINTR)))
				got += n > 0 ? (size_t)n : 0;
			b[got] = 0;
			if (got && b[0] == 'R')
				return 0;
			if (n < 0)
				daemon_error("read", errno, "the daemon's ready pipe");
			else if (got)
				fputs(b, stderr);
			else
				fprintf(stderr, "luo-agent daemon: the daemon (pid %d) exited before its socket %s was up, "
						"without a word; the console (%s) may say more\n",
					(int)pid, agent_sock_path(), console_path());
			return 1;
		}
		close(ready[0]);
		starter_fd = ready[1];
		if (setsid() < 0)
			console_mark("agent-error op=setsid errno=%d errno_name=%s", errno, errno_name(errno));
		if (chdir("/") < 0)
			console_mark("agent-error op=chdir errno=%d errno_name=%s what=/", errno, errno_name(errno));
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nul < 0)
			console_mark("agent-error op=open errno=%d errno_name=%s what=/dev/null", errno, errno_name(errno));
		for (i = 0; nul >= 0 && i < 3; i++)
			if (dup2(nul, i) < 0)
				console_mark("agent-error op=dup2 errno=%d errno_name=%s what=fd-%d", errno, errno_name(errno), i);
		if (nul > 2)
			close(nul);
	}

	/* luo_agent.device=off leaves /dev/liveupdate to other programs (the
	 * kernel's selftests open it themselves); verbs that need it still open
	 * it on demand. */
	if (cmdline_has(g.cmdline, "luo_agent.restore=off")) {
		/* The fuzzer retrieves (or deliberately fails to retrieve) everything
		 * itself: own the device, take nothing, keep no plan. */
		struct aerr e;
		g.plan_off = true;
		if (luo_ensure_open(&e))
			console_mark("agent-error op=%s errno=%d errno_name=%s", e.op, e.err, errno_name(e.err));
	} else if (!cmdline_has(g.cmdline, "luo_agent.device=off")) {
		restore_at_start();
	}
	calibrate_tsc();
	s = listen_socket();
	if (s < 0)
		return 1;
	console_mark("agent-ready pid=%d boot=%ld liveupdate=%d restored_sessions=%d", getpid(), g.boot,
		     g.luo_fd >= 0, g.restored_sessions);
	if (g.tsc_khz)
		console_mark("tsc-khz khz=%llu source=%s", (unsigned long long)g.tsc_khz, g.tsc_khz_source);
	if (ready[1] >= 0) {
		if (write(ready[1], "R", 1) < 0) /* the starter is gone: serve anyway, but say so */
			console_mark("agent-error op=write errno=%d errno_name=%s what=ready-pipe", errno, errno_name(errno));
		close(ready[1]);
		starter_fd = -1;
	}
	jw_init(&w);
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* Said once per errno, not ten times a second. */
			if (errno != accept_err)
				console_mark("agent-error op=accept4 errno=%d errno_name=%s", errno, errno_name(errno));
			accept_err = errno;
			struct timespec ts = { 0, 100000000 };
			nanosleep(&ts, NULL);
			continue;
		}
		accept_err = 0;
		serve_one(c, &w);
		if (pending_kexec) {
			/* Let the reply reach the caller before the machine goes away. */
			wait_peer_close(c, 2000);
			close(c);
			if (kexec_delay_ms) {
				struct timespec d = { (time_t)(kexec_delay_ms / 1000), (long)(kexec_delay_ms % 1000) * 1000000L };
				nanosleep(&d, NULL);
			}
			do_kexec_now();
		} else {
			close(c);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fprintf(stderr, "usage: luo-agent daemon [--foreground]\n"
				"       luo-agent <verb> [--key value ...]   (prints one JSON object)\n"
				"       luo-agent relay   (requests on stdin, one JSON reply a line on stdout)\n");
		return 2;
	}
	if (!strcmp(argv[1], "daemon"))
		return daemon_main(argc, argv);
	if (!strcmp(argv[1], "relay"))
		return relay_main();
	return client_main(argc, argv);
}
