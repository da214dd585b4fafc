/*
 * Libraries loaded when first used. libpq (PostgreSQL), libpcap (live
 * capture, BPF) and libmicrohttpd (the web worker) bring some thirty
 * libraries with them (Kerberos, LDAP, GnuTLS, D-Bus...); linked, they are
 * loaded and relocated by every command, `sinktrap pcap` and `sinktrap
 * sessions` included, which use none of them. Each such library has a shim
 * (pq_shim.c, pcap_shim.c, mhd_shim.c) that defines the functions sinktrap
 * calls, with the library's own prototypes, and forwards each call to the
 * library, opened with dlopen() at the first call.
 *
 * A library that cannot be opened is a broken installation: the first call
 * that needs it logs which library and why, and the process exits.
 * dynlib_ready() lets a caller find out first and refuse with a message.
 */
#ifndef SINKTRAP_DYNLIB_H
#define SINKTRAP_DYNLIB_H

#include <pthread.h>
#include <stddef.h>

struct dynlib {
	const char *const *names; /* sonames to try, in order; NULL-terminated */
	const char *what;         /* for messages: "PostgreSQL client library (libpq)" */
	pthread_once_t once;
	void *handle;
	char err[256];
};

#define DYNLIB_INIT(what_, ...)                                                                \
	{                                                                                      \
		.names = (const char *const[]){__VA_ARGS__, NULL}, .what = (what_),            \
		.once = PTHREAD_ONCE_INIT                                                      \
	}

/* Open the library (once). 0, or -1 with the reason in err. */
int dynlib_ready(struct dynlib *lib, char *err, size_t errlen);

/* The address of a function of the library; a library or symbol that is
 * missing is fatal (logged, exit 1). */
void *dynlib_sym(struct dynlib *lib, const char *name);

/* The library's function NAME, of type RET (*)PARAMS, looked up at the first
 * use of this expression and kept (a GNU statement expression). */
#define DYNLIB_GET(lib, ret, name, params)                                                     \
	({                                                                                     \
		static ret(*fn_) params;                                                       \
		ret(*f_) params = __atomic_load_n(&fn_, __ATOMIC_ACQUIRE);                     \
		if (f_ == NULL) {                                                              \
			f_ = (ret(*) params)dynlib_sym(&(lib), #name);                         \
			__atomic_store_n(&fn_, f_, __ATOMIC_RELEASE);                          \
		}                                                                              \
		f_;                                                                            \
	})

/* Forward one function: RET NAME PARAMS { return real(ARGS); }. */
#define DYNLIB_FN(lib, ret, name, params, args)                                                \
	ret name params                                                                        \
	{                                                                                      \
		return DYNLIB_GET(lib, ret, name, params) args;                                \
	}

/* The same for a function returning nothing. */
#define DYNLIB_VOID(lib, name, params, args)                                                   \
	void name params                                                                       \
	{                                                                                      \
		DYNLIB_GET(lib, void, name, params) args;                                      \
	}

#endif
