#ifndef NANOEDGE_CLINUX_SHIM_H
#define NANOEDGE_CLINUX_SHIM_H
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <unistd.h>

// openat2(2) (Linux 5.6): glibc has no wrapper and Swift cannot call the variadic syscall(2).
// The struct and flags are copied from <linux/openat2.h> so older kernel headers still build;
// the syscall number is the same on every architecture (the unified table).
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

#define NANOEDGE_RESOLVE_NO_XDEV 0x01
#define NANOEDGE_RESOLVE_NO_MAGICLINKS 0x02
#define NANOEDGE_RESOLVE_NO_SYMLINKS 0x04
#define NANOEDGE_RESOLVE_BENEATH 0x08

struct nanoedge_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

// Returns the descriptor, or -1 with errno set (ENOSYS on kernels before 5.6).
static inline int nanoedge_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct nanoedge_open_how how = { flags, mode, resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

// adjtimex(2) with modes 0 only reads. Returns 1 and the kernel's time when a time source (timesyncd,
// chrony, ntpd) disciplines the clock, 0 when the kernel calls it unsynchronised, -1 on error.
// The time comes from the kernel in the same call, so an LD_PRELOADed libfaketime does not move it.
static inline int nanoedge_synchronised_time(int64_t *seconds) {
    struct timex state = { 0 };
    int status = adjtimex(&state);
    if (status < 0) return -1;
    if (status == TIME_ERROR || (state.status & STA_UNSYNC)) return 0;
    *seconds = (int64_t)state.time.tv_sec;
    return 1;
}
#endif
