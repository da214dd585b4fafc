/*
 * IPC between the parent and the workers, and between workers and the store:
 * SOCK_SEQPACKET socketpairs carrying framed records (type, length, payload),
 * optionally with one passed descriptor. Every length is checked against
 * what arrived; a malformed message is fatal to the receiver, which the
 * parent then restarts.
 */
#ifndef SINKTRAP_IPC_H
#define SINKTRAP_IPC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IPC_MAX_PAYLOAD (64 * 1024)

enum ipc_type {
	IPC_EVENTS = 1,    /* worker -> store: one or more event records */
	IPC_MAP_REQUEST,   /* dns -> store: send me the sinkhole map */
	IPC_MAP_ENTRY,     /* store -> dns: struct ipc_map_entry + name */
	IPC_MAP_DONE,      /* store -> dns: end of the map */
	IPC_RELOAD_BEGIN,  /* parent -> dns: list descriptors follow */
	IPC_RELOAD_LIST,   /* parent -> dns: struct ipc_list + path, with the fd */
	IPC_RELOAD_END,    /* parent -> dns: build and swap */
	IPC_STORE_CHANNEL, /* parent -> worker: the fd of a (new) store channel */
	IPC_PEER_CHANNEL,  /* parent -> store: fd of a producer's channel + name */
	IPC_HELLO,         /* worker -> parent: up and serving */
	IPC_RELOAD_ERROR,  /* parent -> dns: a reload could not start (text); say so in an alert
	                    */
	IPC_STORE_RELOAD,  /* parent -> store: the config's name, with an fd of its checked text
	                    */
	IPC_RELOADED,      /* dns -> parent: struct ipc_reloaded, the lists of a reload are in
	                      place (or were refused) */
};

/* IPC_RELOAD_END carries the reload's number; IPC_RELOADED gives it back. */
struct ipc_reloaded {
	uint32_t seq;
	uint32_t ok; /* 1: the new lists answer; 0: refused, the previous ones kept */
};

struct ipc_hdr {
	uint32_t type;
	uint32_t len;
};

struct ipc_msg {
	struct ipc_hdr hdr;
	uint8_t data[IPC_MAX_PAYLOAD];
	int fd; /* passed descriptor or -1; the receiver owns it */
};

/* Longest name an IPC_MAP_ENTRY carries: a presentation-form name with escapes. */
#define IPC_MAP_NAME_MAX 1024

struct ipc_map_entry {
	int64_t last_use; /* microseconds since the epoch */
	uint8_t addr[16];
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t pad[7];
	/* followed by the name, not NUL-terminated */
};

struct ipc_list {
	int32_t line; /* config line that named the list */
	int32_t allow;
	/* a list of clients (client_blocklist, client_allowlist) */
	int32_t clients;
	/* followed by the path, not NUL-terminated */
};

/* Both ends SOCK_SEQPACKET, close-on-exec. 0 or -errno. */
int ipc_pair(int sv[2]);
/*
 * Send one message (payload len <= IPC_MAX_PAYLOAD) and optionally a
 * descriptor (fd >= 0). Returns 0, -EAGAIN when a non-blocking socket is
 * full, or -errno.
 */
int ipc_send(int sock, uint32_t type, const void *payload, size_t len, int fd);
/* Two-part payload (header struct + variable tail). */
int ipc_send2(int sock, uint32_t type, const void *a, size_t alen, const void *b, size_t blen,
              int fd);
/*
 * Receive one message. Returns 1 with m filled, 0 on EOF, -EAGAIN when
 * nothing is waiting, -EBADMSG for a malformed message, or -errno.
 */
int ipc_recv(int sock, struct ipc_msg *m);
/*
 * Close a descriptor a peer sent that was not asked for. A socket's linger
 * is cleared first: a peer that sent one set to linger over unsent data
 * cannot make this close wait for it.
 */
void ipc_close_unwanted(int fd);

#endif
