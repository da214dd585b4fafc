/*
 * timeit: the wall time of one command, as its own start, run and exit take
 * it: fork, execvp, waitpid, timed with CLOCK_MONOTONIC. The benchmark times
 * both ways of pulling a session out this way, because bash's own fork and
 * wait around a command cost it some milliseconds more on this kind of
 * machine (a third of what `sinktrap pcap` takes), which is neither tool's.
 *
 *   timeit OUT CMD [ARG...]   appends the seconds to OUT; exits with CMD's status
 *
 * The command keeps timeit's standard input, output and error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: timeit OUT CMD [ARG...]\n");
		return 2;
	}
	FILE *out = fopen(argv[1], "a");
	if (out == NULL) {
		perror(argv[1]);
		return 2;
	}
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid_t p = fork();
	if (p < 0) {
		perror("fork");
		return 2;
	}
	if (p == 0) {
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	int st = 0;
	while (waitpid(p, &st, 0) < 0) {
		if (errno != EINTR) {
			perror("waitpid");
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	fprintf(out, "%.6f\n",
	        (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	fclose(out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
