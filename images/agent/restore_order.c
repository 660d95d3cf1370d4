/*
 * The order the daemon restores a plan in, kept apart from the ioctls so it
 * can be tested on the host:
 *   1. sessions: every file names the session it lives in;
 *   2. preserved devices: each is bound to vfio-pci before its fd is
 *      retrieved, because the kernel hands a preserved VFIO device back only
 *      through vfio-pci (RETRIEVE_FD before the bind fails with ENODEV, and
 *      open() of its cdev fails with EBUSY until the fd is retrieved);
 *   3. memfds and the other fds;
 *   4. the heartbeat, which needs its memfd back.
 * With `reverse` each class goes in the opposite order of its preservation,
 * so a test can show that retrieval does not depend on order.
 */
#include "restore_order.h"
#include <stdio.h>
#include <string.h>

enum restore_step restore_step_of(const char *line)
{
	char kind[16], sess[64], bdf[32];
	unsigned long long token;

	if (!strncmp(line, "session ", 8))
		return STEP_SESSION;
	if (!strncmp(line, "memfd ", 6))
		return STEP_FILE;
	if (!strncmp(line, "fd ", 3)) {
		/* "fd vfio <session> <token> <bdf>": a device; older plans have no BDF. */
		if (sscanf(line, "fd %15s %63s %llx %31s", kind, sess, &token, bdf) == 4 && !strcmp(kind, "vfio") &&
		    strcmp(bdf, "-"))
			return STEP_DEVICE;
		return STEP_FILE;
	}
	if (!strncmp(line, "heartbeat ", 10))
		return STEP_HEARTBEAT;
	return STEP_NONE;
}

int restore_order(char *const *lines, int n, bool reverse, int *order)
{
	static const enum restore_step steps[] = { STEP_SESSION, STEP_DEVICE, STEP_FILE, STEP_HEARTBEAT };
	int count = 0;

	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++)
		for (int i = 0; i < n; i++) {
			int at = reverse ? n - 1 - i : i;
			if (restore_step_of(lines[at]) == steps[s])
				order[count++] = at;
		}
	return count;
}
