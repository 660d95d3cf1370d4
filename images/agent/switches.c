/*
 * Failures made on purpose. Some of the agent's failures need a full table
 * or a refusing syscall that a healthy guest never gives; two switches on the
 * kernel command line make them happen, so a test can see each reported:
 *
 *   luo_agent.slots=<table>:<n>[,<table>:<n>...]
 *       a smaller limit for a table: sessions, memfds or held (the iommufd
 *       and VFIO fds); never above what the agent is built with.
 *   luo_agent.fault=<call>[:<errno>[:<times>]][,...]
 *       the agent treats <call> as failed with <errno> (a name such as EIO,
 *       or a number; EIO when left out), every time or the first <times>.
 *
 * Several occurrences apply in order (a later one wins per table or call).
 * Each planted fault says so on the console when it fires
 * (`agent-fault call= errno= errno_name=`), and a switch the agent cannot read
 * is reported there too (`agent-error op=<switch> ... item=`), never ignored.
 */
#include "agent.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name; /* in luo_agent.slots= */
	int max; /* what the agent is built with */
	const char *what;
} tables[N_TABLES] = {
	[TABLE_SESSIONS] = { "sessions", MAX_SESSIONS, "session table" },
	[TABLE_MEMFDS] = { "memfds", MAX_MEMFDS, "memfd table" },
	[TABLE_HELD] = { "held", MAX_HELD, "held-fd table (iommufd and VFIO fds)" },
};
static int limits[N_TABLES] = { -1, -1, -1 };

#define MAX_FAULTS 16
static struct {
	char call[32];
	int err;
	long times; /* < 0: every time */
} faults[MAX_FAULTS];
static int n_faults;

static void refuse(const char *sw, const char *item, const char *why)
{
	console_mark("agent-error op=%s errno=%d errno_name=%s item=%s why=%s", sw, EINVAL, errno_name(EINVAL), item, why);
}

static void slots_item(char *item)
{
	char *colon = strchr(item, ':'), *end;
	long n;
	int t;

	if (!colon) {
		refuse("luo_agent.slots", item, "not-<table>:<n>");
		return;
	}
	*colon = 0;
	n = strtol(colon + 1, &end, 10);
	for (t = 0; t < N_TABLES; t++)
		if (!strcmp(item, tables[t].name))
			break;
	*colon = ':';
	if (t == N_TABLES) {
		refuse("luo_agent.slots", item, "no-such-table(sessions,memfds,held)");
		return;
	}
	if (end == colon + 1 || *end || n < 0 || n > tables[t].max) {
		refuse("luo_agent.slots", item, "limit-not-0..built-in-maximum");
		return;
	}
	limits[t] = (int)n;
}

static void fault_item(char *item)
{
	char *p = strchr(item, ':'), *q = NULL, *end;
	int err = EIO;
	long times = -1;

	if (n_faults >= MAX_FAULTS) {
		refuse("luo_agent.fault", item, "too-many-faults");
		return;
	}
	if (p) {
		*p++ = 0;
		if ((q = strchr(p, ':')))
			*q++ = 0;
		if (!(err = errno_by_name(p))) {
			refuse("luo_agent.fault", p, "not-an-errno");
			return;
		}
		if (q) {
			times = strtol(q, &end, 10);
			if (end == q || *end || times < 1) {
				refuse("luo_agent.fault", q, "times-not-a-positive-number");
				return;
			}
		}
	}
	if (!*item || strlen(item) >= sizeof(faults[0].call)) {
		refuse("luo_agent.fault", item, "no-call-named");
		return;
	}
	snprintf(faults[n_faults].call, sizeof(faults[n_faults].call), "%s", item);
	faults[n_faults].err = err;
	faults[n_faults].times = times;
	n_faults++;
}

void switches_read(const char *cmdline)
{
	static char copy[sizeof(g.cmdline)];
	char *word, *save, *item, *isave;

	snprintf(copy, sizeof(copy), "%s", cmdline);
	for (word = strtok_r(copy, " \n", &save); word; word = strtok_r(NULL, " \n", &save)) {
		bool slots = !strncmp(word, "luo_agent.slots=", 16), fault = !strncmp(word, "luo_agent.fault=", 16);
		if (!slots && !fault)
			continue;
		for (item = strtok_r(word + 16, ",", &isave); item; item = strtok_r(NULL, ",", &isave))
			(slots ? slots_item : fault_item)(item);
	}
}

int table_limit(enum table t)
{
	return limits[t] >= 0 ? limits[t] : tables[t].max;
}

const char *table_full(enum table t)
{
	static char buf[160];

	if (limits[t] < 0)
		snprintf(buf, sizeof(buf), "the %s is full (%d slots)", tables[t].what, tables[t].max);
	else
		snprintf(buf, sizeof(buf), "the %s is full (%d slot%s: luo_agent.slots=%s:%d; built with %d)", tables[t].what,
			 limits[t], limits[t] == 1 ? "" : "s", tables[t].name, limits[t], tables[t].max);
	return buf;
}

bool fault_now(const char *call)
{
	int i;

	/* The last switch naming the call wins. */
	for (i = n_faults - 1; i >= 0; i--) {
		if (strcmp(faults[i].call, call))
			continue;
		if (!faults[i].times)
			return false;
		if (faults[i].times > 0)
			faults[i].times--;
		console_mark("agent-fault call=%s errno=%d errno_name=%s", call, faults[i].err, errno_name(faults[i].err));
		errno = faults[i].err;
		return true;
	}
	return false;
}
