#include "pg_copy.h"

#include <inttypes.h>
#include <string.h>

/*
 * A COPY text value: valid UTF-8 as is; NUL and bytes that are not UTF-8
 * (the database refuses both) as U+FFFD; backslash, tab, CR, LF escaped.
 */
void pg_copy_text(struct strbuf *o, const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '\\')
			j++;
		if (j > i) {
			strbuf_put(o, p + i, j - i);
			i = j;
			continue;
		}
		uint8_t c = p[i];
		if (c == '\\') {
			strbuf_put(o, "\\\\", 2);
		} else if (c == '\t') {
			strbuf_put(o, "\\t", 2);
		} else if (c == '\n') {
			strbuf_put(o, "\\n", 2);
		} else if (c == '\r') {
			strbuf_put(o, "\\r", 2);
		} else if (c == 0) {
			strbuf_put(o, "\xef\xbf\xbd", 3);
		} else if (c < 0x80) {
			strbuf_putc(o, (char)c); /* other control characters are valid text */
		} else {
			size_t l = utf8_len(p + i, n - i);
			if (l > 1) {
				strbuf_put(o, p + i, l);
				i += l;
				continue;
			}
			strbuf_put(o, "\xef\xbf\xbd", 3);
		}
		i++;
	}
}

void pg_copy_sep(struct strbuf *o)
{
	strbuf_putc(o, '\t');
}

void pg_copy_str(struct strbuf *o, const struct ev_field *f)
{
	pg_copy_sep(o);
	if (f == NULL || f->kind != EV_STR)
		strbuf_puts(o, "\\N");
	else
		pg_copy_text(o, f->str, f->strlen);
}

void pg_copy_int(struct strbuf *o, const struct ev_field *f, int64_t min, int64_t max)
{
	pg_copy_sep(o);
	if (f == NULL || (f->kind != EV_INT && f->kind != EV_TIME) || f->i < min || f->i > max)
		strbuf_puts(o, "\\N");
	else
		strbuf_printf(o, "%" PRId64, f->i);
}

/* The range of a sessions_stage number column (its SQL type's, counters not
 * below 0); 0 for a TEXT column. */
static int ses_num(int col, int64_t *min, int64_t *max)
{
	*min = INT64_MIN;
	*max = INT64_MAX;
	switch (col) {
	case SC_SRC_PORT:
	case SC_DEST_PORT:
		*min = 0;
		*max = 65535;
		return 1;
	case SC_PKTS_TOSERVER:
	case SC_PKTS_TOCLIENT:
	case SC_BYTES_TOSERVER:
	case SC_BYTES_TOCLIENT:
	case SC_PAYLOAD_TOSERVER:
	case SC_PAYLOAD_TOCLIENT:
		*min = 0;
		return 1;
	case SC_FLOW_ID:
	case SC_START_TS:
	case SC_END_TS:
		return 1;
	default:
		return 0;
	}
}

void pg_copy_session(struct strbuf *o, uint32_t seq, const struct session_row *r)
{
	strbuf_printf(o, "%u", seq);
	for (int i = 0; i < SC_MAX; i++) {
		const struct ev_field *f = r->col[i].kind ? &r->col[i] : NULL;
		int64_t min, max;
		if (ses_num(i, &min, &max))
			pg_copy_int(o, f, min, max);
		else if (f && (f->kind == EV_INT || f->kind == EV_TIME))
			pg_copy_int(o, f, INT64_MIN, INT64_MAX); /* a number is valid text */
		else
			pg_copy_str(o, f);
	}
	pg_copy_sep(o);
	if (r->vlan[0])
		strbuf_puts(o, r->vlan);
	else
		strbuf_puts(o, "\\N");
	pg_copy_sep(o);
	if (r->pcap_files[0])
		pg_copy_text(o, (const uint8_t *)r->pcap_files, strlen(r->pcap_files));
	else
		strbuf_puts(o, "\\N");
	strbuf_printf(o, "\t%s\n", r->expired ? "t" : "f");
}
