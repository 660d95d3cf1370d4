/* luo-agent: the in-guest live-update agent (userspace LUO agent + tiny VMM). */
#ifndef LUO_AGENT_H
#define LUO_AGENT_H

#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define AGENT_SOCK "/run/luo-agent.sock"
#define LUO_DEVICE "/dev/liveupdate"
/* The agent's own plan lives in a memfd preserved in this session. */
#define STATE_SESSION "luo-agent-state"
#define STATE_TOKEN 0x4c554f4147454e54ULL /* "LUOAGENT" */
#define STATE_SIZE (256 * 1024)
#define HEARTBEAT_TOKEN_DEFAULT 0x4842ULL
#define PATTERN_PAGE 4096

#define MAX_SESSIONS 64
#define MAX_MEMFDS 256
#define MAX_HELD 64
#define MAX_IOAS 16
#define MAX_MAPS 64
#define MAX_VFIO 8
#define NAME_LEN 64

/* ---- json.c: a minimal JSON writer into a growable buffer ---- */
struct jw {
	char *buf;
	size_t len, cap;
	int depth;
	bool first[32];
};
void jw_init(struct jw *w);
void jw_free(struct jw *w);
void jw_reset(struct jw *w);
void jw_obj(struct jw *w, const char *key);
void jw_end_obj(struct jw *w);
void jw_arr(struct jw *w, const char *key);
void jw_end_arr(struct jw *w);
void jw_str(struct jw *w, const char *key, const char *v); /* v NULL -> null */
void jw_i64(struct jw *w, const char *key, long long v);
void jw_u64(struct jw *w, const char *key, unsigned long long v);
void jw_hex(struct jw *w, const char *key, unsigned long long v); /* "0x.." string */
void jw_bool(struct jw *w, const char *key, bool v);
void jw_null(struct jw *w, const char *key);
void jw_dbl(struct jw *w, const char *key, double v);

/* ---- errors: exactly which call failed, with which errno, on which fd ---- */
struct aerr {
	char op[64];
	int err;
	int fd; /* the fd the failed call acted on; -1 -> null */
	int target_fd; /* the fd handed to the kernel as an argument, e.g. PRESERVE_FD's fd; -1 -> null */
	char msg[320];
};
int fail(struct aerr *e, const char *op, int err, int fd, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
const char *errno_name(int err);
/* ENOSPC from "ENOSPC", or a decimal number; 0 when neither. */
int errno_by_name(const char *name);

/* ---- switches.c: failures made on purpose, so that tests see each reported ---- */
/* The tables whose limit luo_agent.slots= can lower. */
enum table { TABLE_SESSIONS, TABLE_MEMFDS, TABLE_HELD, N_TABLES };
/* Reads luo_agent.slots= and luo_agent.fault= from the command line; a malformed one is reported on the console. */
void switches_read(const char *cmdline);
int table_limit(enum table t);
/* "the memfd table is full (256 slots)", naming the switch when it lowered the limit. */
const char *table_full(enum table t);
/* luo_agent.fault= names `call`: sets errno to the planted one and returns true (the caller then fails as if the call had). */
bool fault_now(const char *call);

/* ---- request: verb + --key value pairs ---- */
struct req {
	const char *verb;
	int n;
	const char *keys[32];
	const char *vals[32];
};
const char *req_get(const struct req *r, const char *key);
int req_str(const struct req *r, const char *key, const char **out, struct aerr *e);
int req_u64(const struct req *r, const char *key, uint64_t *out, struct aerr *e);
int req_u64_opt(const struct req *r, const char *key, uint64_t def, uint64_t *out, struct aerr *e);
bool req_flag(const struct req *r, const char *key);
int check_name(const char *what, const char *name, struct aerr *e);

/* ---- sha256.c ---- */
struct sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t fill;
};
void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t n);
void sha256_hex(struct sha256 *s, char out[65]);

/* ---- pattern.c: deterministic content from (seed, page index) ---- */
void pattern_page(uint64_t seed, uint64_t page, uint8_t *out, size_t len);

/* ---- model of everything the daemon holds ---- */
struct session {
	bool used;
	char name[NAME_LEN];
	int fd;
	bool incoming; /* retrieved from the previous kernel */
	bool finished;
};

/* What a memfd held pages of when it was made: the seed's pattern, or zeros (a hole, or fallocated). */
enum memfd_fill { FILL_PATTERN = 0, FILL_HOLE = 1, FILL_FALLOC = 2 };
#define MAX_EXTENTS 64
/* Pages written (the seed's pattern) or punched (zeros) after creation; a later extent wins. */
struct extent {
	uint64_t first, count, seed;
	bool zero;
};

struct memfd {
	bool used;
	char id[NAME_LEN];
	int fd;
	uint64_t size, seed;
	bool hugetlb, sealed;
	char sha256[65]; /* expected, from creation */
	char session[NAME_LEN]; /* "" when not preserved */
	uint64_t token;
	bool restored; /* retrieved after a kexec */
	bool heartbeat; /* the heartbeat page, not a pattern memfd */
	uint8_t fill; /* enum memfd_fill */
	int n_ext;
	struct extent ext[MAX_EXTENTS];
};

/* Non-memfd fds handed to LUO (iommufd, vfio): recorded when the kernel accepted them. */
struct held {
	bool used;
	char kind[16];
	char session[NAME_LEN];
	uint64_t token;
	int fd;
	bool restored;
	/* A VFIO device fd: the device's PCI address and cdev (the plan records the BDF). */
	char bdf[32];
	char cdev[300];
	/* After a restore: what open() of the cdev said before RETRIEVE_FD (the kernel's guard; 0: it opened). */
	int guard_errno;
	bool device_bound; /* bound to vfio-pci by the restore, before the retrieval */
};

struct iomap {
	bool used;
	uint32_t ioas;
	char memfd[NAME_LEN];
	uint64_t offset, length, iova;
	const char *method;
	void *va; /* only for the IOMMU_IOAS_MAP fallback */
};

struct vfio {
	bool used;
	char cdev[300];
	int fd;
	uint32_t devid, pt_id, ioas;
	volatile uint8_t *bar0;
	uint64_t bar0_size, bar0_offset;
	uint32_t bar0_flags;
};

struct restore_err {
	char what[96];
	struct aerr e;
};

struct agent {
	int luo_fd;
	bool luo_present;
	struct aerr luo_err; /* last open() failure */
	long boot; /* luo_harness.boot=, -1 when absent */
	char cmdline[2048];
	uint64_t tsc_khz;
	const char *tsc_khz_source;

	struct session sessions[MAX_SESSIONS];
	struct memfd memfds[MAX_MEMFDS];
	struct held held[MAX_HELD];
	int iommufd;
	uint32_t ioas[MAX_IOAS];
	int n_ioas;
	struct iomap maps[MAX_MAPS];
	struct vfio vfio[MAX_VFIO];

	/* plan persistence */
	int state_session_fd;
	int state_memfd;

	/* what the boot-time restore found */
	bool restore_found;
	int restored_sessions, restored_files;
	uint64_t restore_tsc, restore_realtime_ns, restore_us;
	/* The first RESTORE_ERRS_LISTED errors are kept for `status`; every one is counted
	 * and printed on the console. */
#define RESTORE_ERRS_LISTED 16
	struct restore_err restore_errs[RESTORE_ERRS_LISTED];
	int n_restore_errs; /* all of them, listed or not */

	bool kexec_loaded;

	/* luo_agent.restore=off: nothing is retrieved at start and no plan is kept
	 * (the caller, the fuzzer, drives every retrieval itself). */
	bool plan_off;
};
extern struct agent g;

/* ---- the daemon's wire (main.c) and its clients (client.c) ---- */
void error_json(struct jw *w, const char *verb, const struct aerr *e);
/* 0, or -1 with errno (EIO when the peer took nothing). */
int write_all(int fd, const char *p, size_t n);
int client_main(int argc, char **argv);
int relay_main(void);

/* ---- util ---- */
uint64_t now_ns(int clock);
uint64_t rdtsc_now(void);
const char *agent_sock_path(void);
const char *console_path(void);
void console_mark(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int read_small_file(const char *path, char *buf, size_t cap);
bool cmdline_has(const char *cmdline, const char *arg); /* arg is a whole word of the command line */
struct session *session_find(const char *name);
struct memfd *memfd_find(const char *id);
/* A free entry of each table (within luo_agent.slots=), or NULL when it is full. */
struct memfd *memfd_slot(void);
struct session *session_slot(void);
struct held *held_slot(void);
int luo_ensure_open(struct aerr *e);

/* ---- verbs_iommu.c: PCI functions and vfio-pci ---- */
int vfio_cdev_of(const char *bdf, char *cdev, size_t cap);
int vfio_bdf_of_cdev(const char *cdev, char *bdf, size_t cap);
int vfio_bind_bdf(const char *bdf, char *cdev, size_t cap, char *previous, size_t pcap, struct aerr *e);

/* ---- plan.c ---- */
int plan_save(struct aerr *e);
int plan_ensure_state(struct aerr *e);
void restore_at_start(void);

/* ---- heartbeat.c ---- */
int heartbeat_resume(struct memfd *m, uint64_t interval_us, struct aerr *e);
void heartbeat_json(struct jw *w);
bool heartbeat_active(void);
const char *heartbeat_memfd_id(void);
uint64_t heartbeat_interval_us(void);

/* ---- verbs ---- */
typedef int (*verb_fn)(const struct req *r, struct jw *w, struct aerr *e);
struct verb {
	const char *name;
	verb_fn fn;
	const char *keys; /* comma-separated allowed --keys */
};
extern const struct verb luo_verbs[], iommu_verbs[], kexec_verbs[], hb_verbs[], raw_verbs[], vmram_verbs[];
/* kexec-exec must reply before it reboots: the daemon calls this after the reply went out. */
extern bool pending_kexec;
extern uint64_t kexec_delay_ms; /* after the reply, before the freeze stamp */
void do_kexec_now(void);
void calibrate_tsc(void);
int memfd_read_range(struct memfd *m, uint64_t off, void *buf, size_t len, struct aerr *e);

/* ---- memfd_content.c: what every page of a memfd must hold, and the verbs that change it ---- */
extern const struct verb content_verbs[];
void memfd_expected_page(const struct memfd *m, uint64_t seed, uint64_t page, uint8_t *out, size_t len);
void memfd_expected_sha(const struct memfd *m, char out[65]);
/* The extents as plan text (" <n> first:count:seed:zero ..."), and back; -1 on a malformed list. */
int memfd_extents_text(const struct memfd *m, char *buf, size_t cap);
int memfd_extents_parse(struct memfd *m, const char *text);

#endif
