/*
 * vmhwm-at-exit.so: preloaded into a command (LD_PRELOAD), writes the
 * process's peak resident set, VmHWM of /proc/self/status in KiB, to the
 * file COWDUMP_VMHWM_FILE names when the process exits.
 *
 * Why not GNU time's maximum resident set (wait4's ru_maxrss): the kernel
 * takes it from the per-CPU RSS counters without summing them, so it is
 * off by up to 32 pages per CPU (percpu_counter_read_positive()); on this
 * project's 2-CPU machine that is +-256 KiB, as much as the whole dump-RSS
 * goal of a small tree. /proc/self/status sums the counters: VmHWM is the
 * larger of the exact RSS now and the high-water mark the kernel recorded
 * whenever the RSS was about to drop (munmap). That record is taken from
 * the same unsummed counters, so a peak unmapped before the exit carries
 * their error; a peak still mapped at the exit, as the heap of a CRIU dump
 * mostly is, is exact.
 *
 * Only the process the library was preloaded into writes: the variables
 * are removed from the environment at start, so programs it executes do
 * not inherit them, and a child it forks without executing does not write
 * (another pid).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char out_path[4096];
static pid_t owner;

__attribute__((constructor)) static void vmhwm_start(void)
{
	const char *path = getenv("COWDUMP_VMHWM_FILE");

	if (!path || strlen(path) >= sizeof(out_path))
		return;
	strcpy(out_path, path);
	owner = getpid();
	unsetenv("COWDUMP_VMHWM_FILE");
	unsetenv("LD_PRELOAD");
}

/* The VmHWM line's KiB, or -1 */
static long read_vmhwm(void)
{
	char buf[4096], *line;
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	line = strstr(buf, "\nVmHWM:");
	if (!line)
		return -1;
	return strtol(line + strlen("\nVmHWM:"), NULL, 10);
}

__attribute__((destructor)) static void vmhwm_write(void)
{
	char text[32];
	long kib;
	int fd, len;

	if (!out_path[0] || getpid() != owner)
		return;
	kib = read_vmhwm();
	if (kib < 0)
		return;
	len = snprintf(text, sizeof(text), "%ld\n", kib);
	fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, text, len) != len)
		unlink(out_path);
	close(fd);
}
