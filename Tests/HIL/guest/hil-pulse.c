/* The rig's PIR sensor: raises COUNT pulses on a gpio-sim line by writing its simulated pull, and
 * prints the wall-clock time of each write, so the agent's recorded edge can be compared with it.
 * usage: hil-pulse PULL_FILE COUNT HIGH_MS LOW_MS
 * prints: "pulse I WRITE_MS" per rising write (Unix epoch milliseconds, microsecond decimals). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double wall_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

static int pull(int fd, const char *value)
{
	ssize_t n = pwrite(fd, value, strlen(value), 0);
	if (n < 0) {
		perror("hil-pulse: write");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s PULL_FILE COUNT HIGH_MS LOW_MS\n", argv[0]);
		return 2;
	}
	int fd = open(argv[1], O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	int count = atoi(argv[2]);
	long high = atol(argv[3]), low = atol(argv[4]);
	for (int i = 1; i <= count; i++) {
		double at = wall_ms();
		if (pull(fd, "pull-up") < 0)
			return 1;
		printf("pulse %d %.3f\n", i, at);
		fflush(stdout);
		sleep_ms(high);
		if (pull(fd, "pull-down") < 0)
			return 1;
		if (i < count)
			sleep_ms(low);
	}
	close(fd);
	return 0;
}
