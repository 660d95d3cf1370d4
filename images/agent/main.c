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

void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		p += k;
		n -= (size_t)k;
	}
}

static void serve_one(int c, struct jw *w)
{
	static char buf[MAX_REQ];
	struct timeval tv = { 5, 0 };
	size_t len = 0;
	struct req r;
	ssize_t k;

	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (len < sizeof(buf) && (k = read(c, buf + len, sizeof(buf) - len)) != 0) {
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		len += (size_t)k;
	}
	memset(&r, 0, sizeof(r));
	if (parse_wire(buf, len, &r)) {
		struct aerr e;
		fail(&e, "argument", EINVAL, -1, "malformed request (%zu bytes)", len);
		error_json(w, "", &e);
	} else {
		dispatch(&r, w);
	}
	write_all(c, w->buf, w->len);
	write_all(c, "\n", 1);
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

static long boot_from_cmdline(const char *cmdline)
{
	const char *p = strstr(cmdline, "luo_harness.boot=");

	while (p && p != cmdline && p[-1] != ' ')
		p = strstr(p + 1, "luo_harness.boot=");
	return p ? strtol(p + strlen("luo_harness.boot="), NULL, 10) : -1;
}

static int listen_socket(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	mkdir("/run", 0755);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", agent_sock_path());
	unlink(agent_sock_path());
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0) {
		console_mark("agent-error op=%s errno=%d errno_name=%s", s < 0 ? "socket" : "bind", errno,
			     errno_name(errno));
		return -1;
	}
	chmod(agent_sock_path(), 0600);
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
	int ready[2] = { -1, -1 }, s, i;
	struct jw w;

	for (i = 2; i < argc; i++)
		if (!strcmp(argv[i], "--foreground"))
			foreground = true;
	signal(SIGPIPE, SIG_IGN);
	if (daemon_running()) {
		/* Binding anew would steal the socket from the daemon that holds the sessions. */
		fprintf(stderr, "luo-agent: a daemon already answers on %s\n", agent_sock_path());
		return 1;
	}
	if (!foreground) {
		/* The parent returns only once the socket is up, so init can go on deterministically. */
		char b = 0;
		pid_t pid;
		if (pipe(ready) < 0)
			return 1;
		pid = fork();
		if (pid < 0)
			return 1;
		if (pid > 0) {
			close(ready[1]);
			return read(ready[0], &b, 1) == 1 && b == 'R' ? 0 : 1;
		}
		close(ready[0]);
		setsid();
		if (chdir("/") < 0) {
			/* "/" always exists */
		}
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
			if (nul > 2)
				close(nul);
		}
	}
	memset(&g, 0, sizeof(g));
	g.luo_fd = g.iommufd = g.state_session_fd = g.state_memfd = -1;
	read_small_file("/proc/cmdline", g.cmdline, sizeof(g.cmdline));
	g.boot = boot_from_cmdline(g.cmdline);

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
		if (write(ready[1], "R", 1) < 0) {
			/* parent gone: keep serving anyway */
		}
		close(ready[1]);
	}
	jw_init(&w);
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			struct timespec ts = { 0, 100000000 };
			nanosleep(&ts, NULL);
			continue;
		}
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
