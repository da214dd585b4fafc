#include "dynlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* pthread_once takes no argument: the library being opened is handed over
 * here, under a lock of its own (opening is rare and brief). */
static pthread_mutex_t opening_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dynlib *opening;

static void open_lib(void)
{
	struct dynlib *lib = opening;
	const char *why = "no name to try";
	for (const char *const *n = lib->names; *n != NULL; n++) {
		lib->handle = dlopen(*n, RTLD_NOW | RTLD_LOCAL);
		if (lib->handle != NULL)
			return;
		why = dlerror();
	}
	snprintf(lib->err, sizeof(lib->err), "cannot load the %s (%s): %s", lib->what,
	         lib->names[0], why ? why : "unknown error");
}

int dynlib_ready(struct dynlib *lib, char *err, size_t errlen)
{
	pthread_mutex_lock(&opening_lock);
	opening = lib;
	pthread_once(&lib->once, open_lib);
	pthread_mutex_unlock(&opening_lock);
	if (lib->handle == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s", lib->err);
		return -1;
	}
	return 0;
}

void *dynlib_sym(struct dynlib *lib, const char *name)
{
	char err[300];
	if (dynlib_ready(lib, err, sizeof(err)) < 0)
		fatal("%s", err);
	void *f = dlsym(lib->handle, name);
	if (f == NULL)
		fatal("the %s has no %s: %s", lib->what, name, dlerror());
	return f;
}
