/* Minimal JSON writer: the agent only ever emits JSON, it never parses it. */
#include "agent.h"
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>

void jw_init(struct jw *w)
{
	memset(w, 0, sizeof(*w));
	w->first[0] = true;
}

void jw_free(struct jw *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

void jw_reset(struct jw *w)
{
	w->len = 0;
	w->depth = 0;
	w->first[0] = true;
	if (w->buf)
		w->buf[0] = 0;
}

static void put(struct jw *w, const char *s, size_t n)
{
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 1024;
		while (cap < w->len + n + 1)
			cap *= 2;
		char *nb = realloc(w->buf, cap);
		if (!nb)
			abort();
		w->buf = nb;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = 0;
}

static void putf(struct jw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct jw *w, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	put(w, tmp, (size_t)n);
}

static void quoted(struct jw *w, const char *s)
{
	put(w, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			put(w, esc, 2);
		} else if (c == '\n') {
			put(w, "\\n", 2);
		} else if (c == '\t') {
			put(w, "\\t", 2);
		} else if (c < 0x20 || c >= 0x7f) {
			/* Keep output pure ASCII so any parser accepts it. */
			putf(w, "\\u%04x", c);
		} else {
			put(w, (const char *)&c, 1);
		}
	}
	put(w, "\"", 1);
}

static void key(struct jw *w, const char *k)
{
	if (!w->first[w->depth])
		put(w, ",", 1);
	w->first[w->depth] = false;
	if (k) {
		quoted(w, k);
		put(w, ":", 1);
	}
}

void jw_obj(struct jw *w, const char *k)
{
	key(w, k);
	put(w, "{", 1);
	w->first[++w->depth] = true;
}

void jw_end_obj(struct jw *w)
{
	w->depth--;
	put(w, "}", 1);
}

void jw_arr(struct jw *w, const char *k)
{
	key(w, k);
	put(w, "[", 1);
	w->first[++w->depth] = true;
}

void jw_end_arr(struct jw *w)
{
	w->depth--;
	put(w, "]", 1);
}

void jw_str(struct jw *w, const char *k, const char *v)
{
	key(w, k);
	if (v)
		quoted(w, v);
	else
		put(w, "null", 4);
}

void jw_i64(struct jw *w, const char *k, long long v)
{
	key(w, k);
	putf(w, "%lld", v);
}

void jw_u64(struct jw *w, const char *k, unsigned long long v)
{
	key(w, k);
	putf(w, "%llu", v);
}

void jw_hex(struct jw *w, const char *k, unsigned long long v)
{
	key(w, k);
	putf(w, "\"0x%llx\"", v);
}

void jw_bool(struct jw *w, const char *k, bool v)
{
	key(w, k);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(struct jw *w, const char *k)
{
	key(w, k);
	put(w, "null", 4);
}

void jw_dbl(struct jw *w, const char *k, double v)
{
	key(w, k);
	putf(w, "%.3f", v);
}
