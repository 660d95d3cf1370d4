/*
 * The daemon's clients. `luo-agent <verb> --key value ...` sends one request
 * and prints the reply. `luo-agent relay` serves many over its stdin and
 * stdout, so the harness pays for one exec per SSH connection instead of one
 * per call (an exec of this static binary costs ~45 ms under TCG).
 *
 * Relay framing: a request is a decimal byte count and a newline, then that
 * many bytes of the daemon's wire (NUL-terminated words: the verb, then keys
 * and values). Each reply is one JSON line, in the order of the requests.
 */
#include "agent.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_RELAY_REQ (1 << 20)

/* A request that could not reach the daemon, in the daemon's own error shape. */
static char *fail_json(const char *verb, const char *op, int err, const char *msg)
{
	struct jw w;
	struct aerr e;
	char *out;

	jw_init(&w);
	fail(&e, op, err, -1, "%s", msg);
	error_json(&w, verb, &e);
	out = strdup(w.buf);
	jw_free(&w);
	return out;
}

/* One request on a fresh connection to the daemon; returns its reply (malloc'd, never NULL). */
static char *round_trip(const char *verb, const char *req, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char msg[256], rbuf[8192], *resp = NULL;
	size_t rlen = 0;
	ssize_t k;
	int s, rerr = 0;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", agent_sock_path());
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail_json(verb, "socket", errno, strerror(errno));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		snprintf(msg, sizeof(msg), "connect %s: %s (is `luo-agent daemon` running?)", agent_sock_path(),
			 strerror(err));
		close(s);
		return fail_json(verb, "connect", err, msg);
	}
	/* A request the daemon did not get whole would be answered as another one, or not at all. */
	if (write_all(s, req, len) || shutdown(s, SHUT_WR) < 0) {
		int err = errno;
		snprintf(msg, sizeof(msg), "send the request (%zu bytes) to %s: %s", len, agent_sock_path(), strerror(err));
		close(s);
		return fail_json(verb, "send", err, msg);
	}
	while ((k = read(s, rbuf, sizeof(rbuf))) != 0) {
		if (k < 0) {
			if (errno == EINTR)
				continue;
			rerr = errno;
			break;
		}
		resp = realloc(resp, rlen + (size_t)k + 1);
		if (!resp)
			abort();
		memcpy(resp + rlen, rbuf, (size_t)k);
		rlen += (size_t)k;
		resp[rlen] = 0;
	}
	close(s); /* tells a rebooting daemon the reply was taken */
	if (rerr) {
		/* Part of a reply is no reply: its JSON would be cut off. */
		snprintf(msg, sizeof(msg), "read the daemon's reply (%zu bytes so far): %s", rlen, strerror(rerr));
		free(resp);
		return fail_json(verb, "recv", rerr, msg);
	}
	if (!rlen)
		return fail_json(verb, "recv", ECONNRESET, "the daemon closed the connection without a reply");
	while (rlen && resp[rlen - 1] == '\n')
		resp[--rlen] = 0;
	return resp;
}

static void put_word(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s) + 1;

	if (*len + n > *cap) {
		*cap = (*len + n) * 2;
		*buf = realloc(*buf, *cap);
		if (!*buf)
			abort();
	}
	memcpy(*buf + *len, s, n);
	*len += n;
}

/* 0 ok, 1 a failed reply, 2 when stdout took no reply (its reader is gone: say so on stderr). */
static int print_reply(char *resp)
{
	int ok = !strncmp(resp, "{\"ok\":true", 10);

	if (printf("%s\n", resp) < 0 || fflush(stdout) == EOF) {
		fprintf(stderr, "luo-agent: write the reply to stdout failed with %s (%d): %s\n", errno_name(errno), errno,
			strerror(errno));
		free(resp);
		return 2;
	}
	free(resp);
	return ok ? 0 : 1;
}

int client_main(int argc, char **argv)
{
	const char *verb = argv[1];
	char *buf = NULL, msg[256];
	size_t len = 0, cap = 0;
	int i;

	put_word(&buf, &len, &cap, verb);
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *eq;
		char key[128];
		if (strncmp(a, "--", 2) || !a[2]) {
			snprintf(msg, sizeof(msg), "unexpected argument '%s' (options are --key value)", a);
			return print_reply(fail_json(verb, "argument", EINVAL, msg));
		}
		a += 2;
		if ((eq = strchr(a, '='))) {
			snprintf(key, sizeof(key), "%.*s", (int)(eq - a), a);
			put_word(&buf, &len, &cap, key);
			put_word(&buf, &len, &cap, eq + 1);
		} else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
			put_word(&buf, &len, &cap, a);
			put_word(&buf, &len, &cap, argv[++i]);
		} else {
			put_word(&buf, &len, &cap, a); /* a flag */
			put_word(&buf, &len, &cap, "1");
		}
	}
	return print_reply(round_trip(verb, buf, len));
}

static int read_exact(char *p, size_t n)
{
	while (n) {
		size_t k = fread(p, 1, n, stdin);
		if (!k)
			return -1;
		p += k;
		n -= k;
	}
	return 0;
}

int relay_main(void)
{
	char line[32], *req;
	unsigned long len;

	while (fgets(line, sizeof(line), stdin)) {
		char *end;
		len = strtoul(line, &end, 10);
		if (end == line || *end != '\n' || !len || len > MAX_RELAY_REQ) {
			print_reply(fail_json("", "relay", EPROTO, "a request must start with its byte count and a newline"));
			return 2;
		}
		req = malloc(len + 1);
		if (!req)
			abort();
		if (read_exact(req, len)) {
			free(req);
			print_reply(fail_json("", "relay", EPROTO, "the request ended before its byte count"));
			return 2;
		}
		req[len] = 0; /* the verb is the first NUL-terminated word */
		if (print_reply(round_trip(req, req, len)) == 2) {
			free(req);
			return 2;
		}
		free(req);
	}
	return 0;
}
