#define _GNU_SOURCE
/*
 * The limit of this machine for new connections: an epoll server that
 * accepts, reads the request once, writes a fixed reply and closes. No
 * parsing, no recording. Listens on every port given.
 *   trivial_http PORT [PORT...]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char reply[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n"
    "Connection: close\r\n\r\n<html></html>";

int main(int argc, char **argv)
{
	int ep = epoll_create1(0), one = 1;
	int nl = argc - 1;
	int *lfd = calloc((size_t)nl, sizeof(int));
	for (int i = 0; i < nl; i++) {
		struct sockaddr_in a = {.sin_family = AF_INET,
		                        .sin_port = htons((uint16_t)atoi(argv[i + 1])),
		                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		setsockopt(lfd[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(lfd[i], (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    listen(lfd[i], 4096) < 0) {
			perror("bind");
			return 1;
		}
		struct epoll_event ev = {.events = EPOLLIN,
		                         .data.u64 = (uint64_t)i | (1ull << 32)};
		epoll_ctl(ep, EPOLL_CTL_ADD, lfd[i], &ev);
	}
	struct epoll_event evs[256];
	char buf[4096];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 >> 32) {
				int l = lfd[evs[i].data.u64 & 0xffffffff];
				for (;;) {
					int c = accept4(l, NULL, NULL, SOCK_NONBLOCK);
					if (c < 0)
						break;
					struct epoll_event ev = {.events = EPOLLIN,
					                         .data.u64 = (uint64_t)c};
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			int c = (int)evs[i].data.u64;
			ssize_t r = read(c, buf, sizeof(buf));
			if (r > 0 && write(c, reply, sizeof(reply) - 1) < 0)
				(void)0;
			close(c);
		}
	}
}
