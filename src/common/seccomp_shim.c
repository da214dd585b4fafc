/*
 * libseccomp, opened at the first call (common/dynlib.h): only workers lock
 * themselves down, so the commands (`sinktrap pcap`, `sessions`, `check`...)
 * do not load it.
 */
#include <seccomp.h>
#include <stdarg.h>

#include "dynlib.h"

static struct dynlib seccomp = DYNLIB_INIT("seccomp library (libseccomp)", "libseccomp.so.2");

DYNLIB_FN(seccomp, scmp_filter_ctx, seccomp_init, (uint32_t def_action), (def_action))
DYNLIB_VOID(seccomp, seccomp_release, (scmp_filter_ctx ctx), (ctx))
DYNLIB_FN(seccomp, int, seccomp_load, (const scmp_filter_ctx ctx), (ctx))
DYNLIB_FN(seccomp, int, seccomp_syscall_resolve_name, (const char *name), (name))
DYNLIB_FN(seccomp, int, seccomp_attr_set,
          (scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t value), (ctx, attr, value))
DYNLIB_FN(seccomp, int, seccomp_rule_add_array,
          (scmp_filter_ctx ctx, uint32_t action, int syscall, unsigned int arg_cnt,
           const struct scmp_arg_cmp *arg_array),
          (ctx, action, syscall, arg_cnt, arg_array))

/* Variadic: the comparisons are gathered and passed as an array, as the
 * library itself does. */
int seccomp_rule_add(scmp_filter_ctx ctx, uint32_t action, int syscall, unsigned int arg_cnt,
                     ...)
{
	struct scmp_arg_cmp args[6];
	if (arg_cnt > sizeof(args) / sizeof(args[0]))
		return -22; /* -EINVAL, as the library answers */
	va_list ap;
	va_start(ap, arg_cnt);
	for (unsigned int i = 0; i < arg_cnt; i++)
		args[i] = va_arg(ap, struct scmp_arg_cmp);
	va_end(ap);
	return seccomp_rule_add_array(ctx, action, syscall, arg_cnt, args);
}
