/*
 * The VMM half: iommufd, IOAS mappings of memfds, a VFIO cdev bound to the
 * IOAS, and DMA round trips through QEMU's edu device.
 */
#include "agent.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8
#define EDU_BUF_ADDR 0x40000
#define EDU_BUF_SIZE 4096
#define EDU_REG_ID 0x00
#define EDU_REG_LIVENESS 0x04
#define EDU_REG_DMA_SRC 0x80
#define EDU_REG_DMA_DST 0x88
#define EDU_REG_DMA_COUNT 0x90
#define EDU_REG_DMA_CMD 0x98
#define EDU_CMD_START 1
#define EDU_CMD_TO_RAM 2

static int v_iommufd_open(const struct req *r, struct jw *w, struct aerr *e)
{
	(void)r;
	if (g.iommufd < 0) {
		g.iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
		if (g.iommufd < 0)
			return fail(e, "open", errno, -1, "open /dev/iommu: %s", strerror(errno));
	}
	jw_str(w, "path", "/dev/iommu");
	jw_i64(w, "fd", g.iommufd);
	return 0;
}

static int need_iommufd(struct aerr *e)
{
	if (g.iommufd < 0)
		return fail(e, "lookup", ENOENT, -1, "no iommufd is open (run iommufd-open)");
	return 0;
}

static int pick_ioas(const struct req *r, uint32_t *ioas, struct aerr *e)
{
	uint64_t v;
	int i;

	if (!req_get(r, "ioas")) {
		if (!g.n_ioas)
			return fail(e, "lookup", ENOENT, -1, "no IOAS allocated (run ioas-alloc)");
		*ioas = g.ioas[g.n_ioas - 1];
		return 0;
	}
	if (req_u64(r, "ioas", &v, e))
		return -1;
	for (i = 0; i < g.n_ioas; i++)
		if (g.ioas[i] == v) {
			*ioas = (uint32_t)v;
			return 0;
		}
	return fail(e, "lookup", ENOENT, -1, "IOAS %llu was not allocated by the agent", (unsigned long long)v);
}

static int v_ioas_alloc(const struct req *r, struct jw *w, struct aerr *e)
{
	struct iommu_ioas_alloc arg = { .size = sizeof(arg) };

	(void)r;
	if (need_iommufd(e))
		return -1;
	if (g.n_ioas >= MAX_IOAS)
		return fail(e, "lookup", ENOSPC, -1, "too many IOAS (max %d)", MAX_IOAS);
	if (ioctl(g.iommufd, IOMMU_IOAS_ALLOC, &arg) < 0)
		return fail(e, "IOMMU_IOAS_ALLOC", errno, g.iommufd, "allocate an IOAS: %s", strerror(errno));
	g.ioas[g.n_ioas++] = arg.out_ioas_id;
	jw_u64(w, "ioas", arg.out_ioas_id);
	jw_i64(w, "iommufd", g.iommufd);
	return 0;
}

static int v_ioas_map(const struct req *r, struct jw *w, struct aerr *e)
{
	const char *id;
	uint64_t off, len, iova;
	uint32_t ioas, flags;
	struct memfd *m;
	struct iomap *mp = NULL;
	int i;

	if (need_iommufd(e) || req_str(r, "memfd", &id, e) || req_u64_opt(r, "offset", 0, &off, e) ||
	    req_u64(r, "length", &len, e) || req_u64(r, "iova", &iova, e) || pick_ioas(r, &ioas, e))
		return -1;
	if (!(m = memfd_find(id)))
		return fail(e, "lookup", ENOENT, -1, "the agent holds no memfd named '%s'", id);
	for (i = 0; i < MAX_MAPS && !mp; i++)
		if (!g.maps[i].used)
			mp = &g.maps[i];
	if (!mp)
		return fail(e, "lookup", ENOSPC, -1, "too many mappings (max %d)", MAX_MAPS);
	flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE;
	if (!req_flag(r, "readonly"))
		flags |= IOMMU_IOAS_MAP_WRITEABLE;
	memset(mp, 0, sizeof(*mp));
#if defined(IOMMU_IOAS_MAP_FILE) && !defined(LUO_AGENT_NO_MAP_FILE)
	{
		struct iommu_ioas_map_file arg = {
			.size = sizeof(arg), .flags = flags, .ioas_id = ioas, .fd = m->fd,
			.start = off, .length = len, .iova = iova,
		};
		if (ioctl(g.iommufd, IOMMU_IOAS_MAP_FILE, &arg) < 0) {
			fail(e, "IOMMU_IOAS_MAP_FILE", errno, g.iommufd,
			     "map memfd '%s' [%llu, +%llu) at IOVA 0x%llx in IOAS %u: %s", id,
			     (unsigned long long)off, (unsigned long long)len, (unsigned long long)iova, ioas,
			     strerror(errno));
			e->target_fd = m->fd;
			return -1;
		}
		mp->method = "IOMMU_IOAS_MAP_FILE";
	}
#else
	{
		struct iommu_ioas_map arg = { .size = sizeof(arg), .flags = flags, .ioas_id = ioas,
					      .length = len, .iova = iova };
		void *va = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, (off_t)off);
		if (va == MAP_FAILED)
			return fail(e, "mmap", errno, m->fd, "map memfd '%s' for IOMMU_IOAS_MAP: %s", id,
				    strerror(errno));
		arg.user_va = (uintptr_t)va;
		if (ioctl(g.iommufd, IOMMU_IOAS_MAP, &arg) < 0) {
			fail(e, "IOMMU_IOAS_MAP", errno, g.iommufd, "map memfd '%s' at IOVA 0x%llx in IOAS %u: %s",
			     id, (unsigned long long)iova, ioas, strerror(errno));
			munmap(va, len);
			return -1;
		}
		mp->va = va;
		mp->method = "IOMMU_IOAS_MAP";
	}
#endif
	mp->used = true;
	mp->ioas = ioas;
	snprintf(mp->memfd, sizeof(mp->memfd), "%s", id);
	mp->offset = off;
	mp->length = len;
	mp->iova = iova;
	jw_u64(w, "ioas", ioas);
	jw_str(w, "memfd", id);
	jw_u64(w, "offset", off);
	jw_u64(w, "length", len);
	jw_hex(w, "iova", iova);
	jw_str(w, "method", mp->method);
	jw_bool(w, "writeable", flags & IOMMU_IOAS_MAP_WRITEABLE);
	return 0;
}

static int write_sysfs(const char *path, const char *val, struct aerr *e)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return fail(e, "open", errno, -1, "open %s: %s", path, strerror(errno));
	if (write(fd, val, strlen(val)) < 0) {
		fail(e, "write", errno, fd, "write '%s' to %s: %s", val, path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int find_edu(char *bdf, size_t cap)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *de;
	char path[PATH_MAX], v[32], dv[32];
	int found = -1;

	if (!d)
		return -1;
	while ((de = readdir(d)) && found) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", de->d_name);
		if (read_small_file(path, v, sizeof(v)) < 0)
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", de->d_name);
		if (read_small_file(path, dv, sizeof(dv)) < 0)
			continue;
		if (strtoul(v, NULL, 16) == EDU_VENDOR && strtoul(dv, NULL, 16) == EDU_DEVICE) {
			snprintf(bdf, cap, "%s", de->d_name);
			found = 0;
		}
	}
	closedir(d);
	return found;
}

int vfio_cdev_of(const char *bdf, char *cdev, size_t cap)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc = -1;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	if (!(d = opendir(path)))
		return -1;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "vfio", 4)) {
			snprintf(cdev, cap, "/dev/vfio/devices/%s", de->d_name);
			rc = 0;
			break;
		}
	closedir(d);
	return rc;
}

/* The PCI address behind /dev/vfio/devices/vfioN (/sys/class/vfio-dev/vfioN/device). */
int vfio_bdf_of_cdev(const char *cdev, char *bdf, size_t cap)
{
	const char *name = strrchr(cdev, '/');
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/class/vfio-dev/%s/device", name ? name + 1 : cdev);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return -1;
	link[n] = 0;
	snprintf(bdf, cap, "%s", strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
	return 0;
}

/* The driver a PCI function is bound to now, or "" when none. */
static void driver_of(const char *bdf, char *drv, size_t cap)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	snprintf(drv, cap, "%s", n > 0 ? strrchr(link, '/') + 1 : "");
}

/*
 * driver_override + drivers_probe, the standard way to hand a PCI function to
 * vfio-pci, then wait (bounded) for its cdev. `previous` gets the driver it
 * had ("" for none).
 */
int vfio_bind_bdf(const char *bdf, char *cdev, size_t cap, char *previous, size_t pcap, struct aerr *e)
{
	char path[PATH_MAX], drv[64];
	int waited;

	driver_of(bdf, drv, sizeof(drv));
	snprintf(previous, pcap, "%s", drv);
	if (strcmp(drv, "vfio-pci")) {
		if (drv[0]) {
			snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", bdf);
			if (write_sysfs(path, bdf, e))
				return -1;
		}
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
		if (write_sysfs(path, "vfio-pci", e))
			return -1;
		if (write_sysfs("/sys/bus/pci/drivers_probe", bdf, e))
			return -1;
	}
	/* 200 x 10 ms: the vfio-dev node and its /dev entry appear with the bind. */
	for (waited = 0; waited < 200; waited++) {
		if (!vfio_cdev_of(bdf, cdev, cap) && !access(cdev, F_OK))
			return 0;
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	driver_of(bdf, drv, sizeof(drv));
	return fail(e, "lookup", ENODEV, -1, "%s has no vfio-dev node after binding to vfio-pci (driver now: %s)", bdf,
		    drv[0] ? drv : "none");
}

static int v_vfio_bind(const struct req *r, struct jw *w, struct aerr *e)
{
	char bdf[256], path[PATH_MAX], cdev[300], group[PATH_MAX], previous[64];
	const char *want = req_get(r, "bdf");
	ssize_t n;

	if (want)
		snprintf(bdf, sizeof(bdf), "%s", want);
	else if (find_edu(bdf, sizeof(bdf)))
		return fail(e, "lookup", ENODEV, -1, "no edu device (%04x:%04x) on the PCI bus", EDU_VENDOR,
			    EDU_DEVICE);
	if (vfio_bind_bdf(bdf, cdev, sizeof(cdev), previous, sizeof(previous), e))
		return -1;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, group, sizeof(group) - 1);
	group[n > 0 ? n : 0] = 0;
	jw_str(w, "bdf", bdf);
	jw_str(w, "previous_driver", previous[0] ? previous : NULL);
	jw_str(w, "driver", "vfio-pci");
	jw_str(w, "cdev", cdev);
	jw_str(w, "iommu_group", n > 0 ? strrchr(group, '/') + 1 : NULL);
	return 0;
}

static int region_info(int fd, uint32_t index, struct vfio_region_info *ri, struct aerr *e)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0)
		return fail(e, "VFIO_DEVICE_GET_REGION_INFO", errno, fd, "region %u: %s", index, strerror(errno));
	return 0;
}

static int v_vfio_open(const struct req *r, struct jw *w, struct aerr *e)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt att = { .argsz = sizeof(att) };
	struct vfio_region_info ri;
	struct vfio_device_info info = { .argsz = sizeof(info) };
	const char *cdev = req_get(r, "cdev"), *bdf = req_get(r, "bdf");
	bool restored = req_flag(r, "restored");
	char found[300];
	struct vfio *v = NULL;
	struct held *h = NULL;
	uint32_t ioas;
	uint16_t cmd;
	int fd, i;

	if (need_iommufd(e) || pick_ioas(r, &ioas, e))
		return -1;
	if (!cdev && bdf) {
		if (vfio_cdev_of(bdf, found, sizeof(found)))
			return fail(e, "lookup", ENODEV, -1, "%s has no vfio-dev node (run vfio-bind)", bdf);
		cdev = found;
	}
	if (!cdev)
		return fail(e, "argument", EINVAL, -1, "vfio-open needs --cdev /dev/vfio/devices/vfioN or --bdf");
	for (i = 0; i < MAX_VFIO && !v; i++)
		if (!g.vfio[i].used)
			v = &g.vfio[i];
	if (!v)
		return fail(e, "lookup", ENOSPC, -1, "too many VFIO devices (max %d)", MAX_VFIO);
	if (restored) {
		/* The fd the restore retrieved from its session: a preserved device is never opened anew. */
		for (i = 0; i < MAX_HELD && !h; i++)
			if (g.held[i].used && g.held[i].restored && !strcmp(g.held[i].kind, "vfio") &&
			    !strcmp(g.held[i].cdev, cdev))
				h = &g.held[i];
		if (!h)
			return fail(e, "lookup", ENOENT, -1, "no VFIO device fd for %s was retrieved after the live update", cdev);
		fd = h->fd;
	} else {
		fd = open(cdev, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return fail(e, "open", errno, -1, "open %s: %s", cdev, strerror(errno));
	}
	bind.iommufd = g.iommufd;
	if (ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0) {
		fail(e, "VFIO_DEVICE_BIND_IOMMUFD", errno, fd, "bind %s to iommufd %d: %s", cdev, g.iommufd,
		     strerror(errno));
		e->target_fd = g.iommufd;
		goto err;
	}
	att.pt_id = ioas;
	if (ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &att) < 0) {
		fail(e, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", errno, fd, "attach %s to IOAS %u: %s", cdev, ioas,
		     strerror(errno));
		goto err;
	}
	/* A cdev fd answers other ioctls only once bound to an iommufd. */
	if (ioctl(fd, VFIO_DEVICE_GET_INFO, &info) < 0) {
		fail(e, "VFIO_DEVICE_GET_INFO", errno, fd, "%s: %s", cdev, strerror(errno));
		goto err;
	}
	memset(v, 0, sizeof(*v));
	snprintf(v->cdev, sizeof(v->cdev), "%s", cdev);
	v->fd = fd;
	v->devid = bind.out_devid;
	v->pt_id = att.pt_id;
	v->ioas = ioas;
	if (region_info(fd, VFIO_PCI_BAR0_REGION_INDEX, &ri, e))
		goto err;
	v->bar0_size = ri.size;
	v->bar0_offset = ri.offset;
	v->bar0_flags = ri.flags;
	if (ri.flags & VFIO_REGION_INFO_FLAG_MMAP) {
		void *p = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)ri.offset);
		if (p != MAP_FAILED)
			v->bar0 = p;
	}
	/* vfio-pci leaves bus mastering off; the device cannot DMA without it. */
	if (region_info(fd, VFIO_PCI_CONFIG_REGION_INDEX, &ri, e))
		goto err;
	if (pread(fd, &cmd, 2, (off_t)ri.offset + 4) != 2) {
		fail(e, "pread", errno ? errno : EIO, fd, "read PCI_COMMAND of %s", cdev);
		goto err;
	}
	cmd |= 0x6; /* memory space + bus master */
	if (pwrite(fd, &cmd, 2, (off_t)ri.offset + 4) != 2) {
		fail(e, "pwrite", errno ? errno : EIO, fd, "enable bus mastering on %s", cdev);
		goto err;
	}
	v->used = true;
	jw_str(w, "cdev", cdev);
	jw_bool(w, "restored", restored);
	jw_obj(w, "info");
	jw_u64(w, "flags", info.flags);
	jw_u64(w, "num_regions", info.num_regions);
	jw_u64(w, "num_irqs", info.num_irqs);
	jw_end_obj(w);
	jw_i64(w, "fd", fd);
	jw_i64(w, "iommufd", g.iommufd);
	jw_u64(w, "devid", v->devid);
	jw_u64(w, "ioas", ioas);
	jw_u64(w, "pt_id", v->pt_id);
	jw_obj(w, "bar0");
	jw_u64(w, "size", v->bar0_size);
	jw_hex(w, "offset", v->bar0_offset);
	jw_bool(w, "mmap", v->bar0 != NULL);
	jw_end_obj(w);
	return 0;
err:
	if (v->bar0)
		munmap((void *)v->bar0, v->bar0_size);
	v->bar0 = NULL;
	if (!h)
		close(fd); /* a retrieved fd stays held: closing it would unpreserve nothing, but lose the device */
	return -1;
}

static int bar_rd(struct vfio *v, uint32_t off, void *val, size_t n, struct aerr *e)
{
	if (v->bar0) {
		if (n == 4)
			*(uint32_t *)val = *(volatile uint32_t *)(v->bar0 + off);
		else
			*(uint64_t *)val = *(volatile uint64_t *)(v->bar0 + off);
		return 0;
	}
	if (pread(v->fd, val, n, (off_t)(v->bar0_offset + off)) != (ssize_t)n)
		return fail(e, "pread", errno ? errno : EIO, v->fd, "read BAR0+0x%x", off);
	return 0;
}

static int bar_wr(struct vfio *v, uint32_t off, uint64_t val, size_t n, struct aerr *e)
{
	if (v->bar0) {
		if (n == 4)
			*(volatile uint32_t *)(v->bar0 + off) = (uint32_t)val;
		else
			*(volatile uint64_t *)(v->bar0 + off) = val;
		return 0;
	}
	if (pwrite(v->fd, &val, n, (off_t)(v->bar0_offset + off)) != (ssize_t)n)
		return fail(e, "pwrite", errno ? errno : EIO, v->fd, "write BAR0+0x%x", off);
	return 0;
}

/* One DMA leg; edu runs it from a 100 ms timer in QEMU, so poll with a deadline. */
static int edu_dma(struct vfio *v, uint64_t src, uint64_t dst, uint64_t len, uint64_t cmd, uint64_t *us,
		   struct aerr *e)
{
	uint64_t t0 = now_ns(CLOCK_MONOTONIC), st = 0;
	struct timespec ts = { 0, 200000 };

	if (bar_wr(v, EDU_REG_DMA_SRC, src, 8, e) || bar_wr(v, EDU_REG_DMA_DST, dst, 8, e) ||
	    bar_wr(v, EDU_REG_DMA_COUNT, len, 8, e) || bar_wr(v, EDU_REG_DMA_CMD, cmd, 8, e))
		return -1;
	for (;;) {
		if (bar_rd(v, EDU_REG_DMA_CMD, &st, 8, e))
			return -1;
		if (!(st & EDU_CMD_START))
			break;
		if (now_ns(CLOCK_MONOTONIC) - t0 > 5000000000ULL)
			return fail(e, "edu-dma", ETIMEDOUT, v->fd,
				    "DMA 0x%llx -> 0x%llx (%llu bytes) still running after 5 s",
				    (unsigned long long)src, (unsigned long long)dst, (unsigned long long)len);
		nanosleep(&ts, NULL);
	}
	*us = (now_ns(CLOCK_MONOTONIC) - t0) / 1000;
	return 0;
}

static struct iomap *map_of(uint64_t iova, uint64_t len, uint32_t ioas)
{
	int i;

	for (i = 0; i < MAX_MAPS; i++) {
		struct iomap *m = &g.maps[i];
		if (m->used && m->ioas == ioas && iova >= m->iova && iova + len <= m->iova + m->length)
			return m;
	}
	return NULL;
}

static int read_iova(uint64_t iova, uint64_t len, uint32_t ioas, uint8_t *buf, bool *known, struct aerr *e)
{
	struct iomap *mp = map_of(iova, len, ioas);
	struct memfd *m;

	*known = false;
	if (!mp || !(m = memfd_find(mp->memfd)))
		return 0;
	*known = true;
	return memfd_read_range(m, mp->offset + (iova - mp->iova), buf, len, e);
}

static int v_edu_dma(const struct req *r, struct jw *w, struct aerr *e)
{
	static uint8_t src_b[EDU_BUF_SIZE], dst_before[EDU_BUF_SIZE], dst_after[EDU_BUF_SIZE];
	const char *cdev = req_get(r, "cdev");
	uint64_t src, dst, len, us_in = 0, us_out = 0;
	uint32_t id = 0, live = 0;
	struct vfio *v = NULL;
	bool ks, kd;
	int i;

	if (req_u64(r, "src-iova", &src, e) || req_u64(r, "dst-iova", &dst, e) || req_u64(r, "len", &len, e))
		return -1;
	/*
	 * edu aborts QEMU (hw_error) on an out-of-range device address, and its
	 * range check rejects a range ending exactly at the buffer's end, so the
	 * largest transfer is one byte short of the 4 KiB buffer.
	 */
	if (!len || len > EDU_BUF_SIZE - 1)
		return fail(e, "argument", EINVAL, -1, "--len must be 1..%d (edu's buffer is %d bytes and its range check excludes the last byte)",
			    EDU_BUF_SIZE - 1, EDU_BUF_SIZE);
	for (i = 0; i < MAX_VFIO && !v; i++)
		if (g.vfio[i].used && (!cdev || !strcmp(cdev, g.vfio[i].cdev)))
			v = &g.vfio[i];
	if (!v)
		return fail(e, "lookup", ENOENT, -1, "no VFIO device is open (run vfio-open)");
	if (bar_rd(v, EDU_REG_ID, &id, 4, e) || bar_wr(v, EDU_REG_LIVENESS, 0x12345678, 4, e) ||
	    bar_rd(v, EDU_REG_LIVENESS, &live, 4, e))
		return -1;
	if ((id & 0xff) != 0xed)
		return fail(e, "edu-dma", ENODEV, v->fd, "%s is not an edu device (id register 0x%08x)", v->cdev, id);
	if (read_iova(src, len, v->ioas, src_b, &ks, e) || read_iova(dst, len, v->ioas, dst_before, &kd, e))
		return -1;
	if (edu_dma(v, src, EDU_BUF_ADDR, len, EDU_CMD_START, &us_in, e) ||
	    edu_dma(v, EDU_BUF_ADDR, dst, len, EDU_CMD_START | EDU_CMD_TO_RAM, &us_out, e))
		return -1;
	if (kd && read_iova(dst, len, v->ioas, dst_after, &kd, e))
		return -1;
	jw_str(w, "cdev", v->cdev);
	jw_hex(w, "id", id);
	jw_bool(w, "liveness_ok", live == (uint32_t)~0x12345678u);
	jw_hex(w, "src_iova", src);
	jw_hex(w, "dst_iova", dst);
	jw_u64(w, "len", len);
	jw_u64(w, "to_device_us", us_in);
	jw_u64(w, "to_ram_us", us_out);
	jw_bool(w, "verified", ks && kd);
	if (ks && kd) {
		jw_bool(w, "dst_matched_before", !memcmp(src_b, dst_before, len));
		jw_bool(w, "match", !memcmp(src_b, dst_after, len));
	} else {
		jw_null(w, "dst_matched_before");
		jw_null(w, "match");
	}
	return 0;
}

const struct verb iommu_verbs[] = {
	{ "iommufd-open", v_iommufd_open, "" },
	{ "ioas-alloc", v_ioas_alloc, "" },
	{ "ioas-map", v_ioas_map, "memfd,offset,length,iova,ioas,readonly" },
	{ "vfio-bind", v_vfio_bind, "bdf" },
	{ "vfio-open", v_vfio_open, "cdev,bdf,ioas,restored" },
	{ "edu-dma", v_edu_dma, "src-iova,dst-iova,len,cdev" },
	{ NULL, NULL, NULL },
};
