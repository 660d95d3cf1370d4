/* kexec_file_load (KHO rides on it), the freeze stamp, and TSC frequency. */
#include "agent.h"
#include <sys/klog.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/kexec.h>
#include <linux/reboot.h>

#ifndef KEXEC_FILE_NO_INITRAMFS
#define KEXEC_FILE_NO_INITRAMFS 0x00000004
#endif

bool pending_kexec;
uint64_t kexec_delay_ms;

/* The TSC frequency the kernel found at boot ("tsc: Detected 2596.121 MHz processor"), from its log. */
static uint64_t tsc_khz_from_klog(void)
{
	static char log[1 << 17];
	const char *key = "tsc: Detected ", *p;
	unsigned long mhz, frac;
	int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, sizeof(log) - 1);

	if (n <= 0)
		return 0;
	log[n] = 0;
	if (!(p = strstr(log, key)) || sscanf(p + strlen(key), "%lu.%3lu MHz", &mhz, &frac) != 2)
		return 0;
	return mhz * 1000 + frac;
}

/*
 * Prefer the kernel's figure (sysfs, else its boot log): no waiting, so the
 * daemon listens as soon as its restore is done. Else count TSC ticks over
 * 50 ms of CLOCK_MONOTONIC_RAW.
 */
void calibrate_tsc(void)
{
	char buf[64];
	uint64_t t0, c0, t1, c1;
	struct timespec ts = { 0, 50000000 };

	if (read_small_file("/sys/devices/system/cpu/cpu0/tsc_freq_khz", buf, sizeof(buf)) > 0 &&
	    strtoull(buf, NULL, 10)) {
		g.tsc_khz = strtoull(buf, NULL, 10);
		g.tsc_khz_source = "sysfs";
		return;
	}
	if ((g.tsc_khz = tsc_khz_from_klog())) {
		g.tsc_khz_source = "klog";
		return;
	}
	if (!rdtsc_now())
		return;
	t0 = now_ns(CLOCK_MONOTONIC_RAW);
	c0 = rdtsc_now();
	nanosleep(&ts, NULL);
	t1 = now_ns(CLOCK_MONOTONIC_RAW);
	c1 = rdtsc_now();
	if (t1 > t0 && c1 > c0) {
		g.tsc_khz = (c1 - c0) * 1000000ULL / (t1 - t0);
		g.tsc_khz_source = "calibrated";
	}
}

static int open_ro(const char *what, const char *path, int *fd, off_t *size, struct aerr *e)
{
	struct stat st;

	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return fail(e, "open", errno, -1, "open %s %s: %s", what, path, strerror(errno));
	if (fault_now("fstat") || fstat(*fd, &st) < 0) {
		fail(e, "fstat", errno, *fd, "fstat %s %s: %s", what, path, strerror(errno));
		close(*fd);
		return -1;
	}
	*size = st.st_size;
	return 0;
}

static int v_kexec_load(const struct req *r, struct jw *w, struct aerr *e)
{
	const char *kernel, *initrd = req_get(r, "initrd"), *cmdline = req_get(r, "cmdline");
	int kfd = -1, ifd = -1;
	off_t ksize = 0, isize = 0;
	unsigned long flags = 0;
	uint64_t t0;
	long rc;

	if (req_str(r, "kernel", &kernel, e))
		return -1;
	if (!cmdline)
		cmdline = "";
	if (open_ro("kernel", kernel, &kfd, &ksize, e))
		return -1;
	if (initrd && *initrd) {
		if (open_ro("initrd", initrd, &ifd, &isize, e)) {
			close(kfd);
			return -1;
		}
	} else {
		flags |= KEXEC_FILE_NO_INITRAMFS;
	}
	t0 = now_ns(CLOCK_MONOTONIC);
	rc = syscall(SYS_kexec_file_load, kfd, ifd, strlen(cmdline) + 1, cmdline, flags);
	if (rc < 0) {
		fail(e, "kexec_file_load", errno, kfd, "load %s%s%s: %s", kernel, ifd >= 0 ? " with initrd " : "",
		     ifd >= 0 ? initrd : "", strerror(errno));
		if (ifd >= 0)
			e->target_fd = ifd;
	}
	close(kfd);
	if (ifd >= 0)
		close(ifd);
	if (rc < 0)
		return -1;
	g.kexec_loaded = true;
	jw_str(w, "kernel", kernel);
	jw_u64(w, "kernel_size", (uint64_t)ksize);
	jw_str(w, "initrd", ifd >= 0 ? initrd : NULL);
	jw_u64(w, "initrd_size", (uint64_t)isize);
	jw_str(w, "cmdline", cmdline);
	jw_u64(w, "elapsed_us", (now_ns(CLOCK_MONOTONIC) - t0) / 1000);
	return 0;
}

static int v_kexec_exec(const struct req *r, struct jw *w, struct aerr *e)
{
	char kl[16];

	if (req_u64_opt(r, "delay-ms", 50, &kexec_delay_ms, e))
		return -1;
	if (kexec_delay_ms > 10000)
		return fail(e, "argument", EINVAL, -1, "--delay-ms must be at most 10000");
	if (read_small_file("/sys/kernel/kexec_loaded", kl, sizeof(kl)) > 0 && kl[0] != '1')
		return fail(e, "precheck", ENOEXEC, -1,
			    "no kexec image is loaded (/sys/kernel/kexec_loaded is 0): run kexec-load first");
	/* The reply goes out first; the daemon reboots right after sending it. */
	pending_kexec = true;
	jw_bool(w, "rebooting", true);
	jw_u64(w, "delay_ms", kexec_delay_ms);
	if (g.tsc_khz)
		jw_u64(w, "tsc_khz", g.tsc_khz);
	else
		jw_null(w, "tsc_khz");
	return 0;
}

void do_kexec_now(void)
{
	uint64_t tsc, rt;
	int err;

	pending_kexec = false;
	if (g.tsc_khz)
		console_mark("tsc-khz khz=%llu source=%s", (unsigned long long)g.tsc_khz, g.tsc_khz_source);
	sync();
	tsc = rdtsc_now();
	rt = now_ns(CLOCK_REALTIME);
	console_mark("freeze tsc=%llu realtime_ns=%llu", (unsigned long long)tsc, (unsigned long long)rt);
	syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_KEXEC, NULL);
	err = errno;
	/* Still here: the kernel refused (e.g. a LUO freeze callback failed). */
	console_mark("kexec-failed op=reboot errno=%d errno_name=%s", err, errno_name(err));
}

const struct verb kexec_verbs[] = {
	{ "kexec-load", v_kexec_load, "kernel,initrd,cmdline" },
	{ "kexec-exec", v_kexec_exec, "delay-ms" },
	{ NULL, NULL, NULL },
};
