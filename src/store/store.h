/*
 * The store worker: receives event records from every producing worker,
 * writes them as JSON lines and into the database, keeps the durable
 * sinkhole map, and hands that map to the DNS worker at its start.
 *
 * The database layer (db.h) is reached only from here, so adding a backend
 * never touches the workers.
 */
#ifndef SINKTRAP_STORE_H
#define SINKTRAP_STORE_H

#include "../common/config.h"

#define STORE_MAX_PEERS 16

struct store_peer {
	int fd;
	char name[16];
};

struct store_setup {
	int parent_fd; /* -1 when run alone */
	struct store_peer peers[STORE_MAX_PEERS];
	int npeers;
};

/* Prepare state_dir (and its database) before workers start. 0 or -1 (logged). */
int store_prepare(const struct config *c, uid_t uid, gid_t gid);
/* Run the worker until SIGTERM and every peer has closed. Returns the exit status. */
int store_worker_main(struct config *c, struct store_setup *s);

#endif
