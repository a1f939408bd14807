/* Helpers for the libFuzzer targets: inputs become files through memfd, so the library's real
 * file paths (mmap, fopen) are what gets fuzzed. */
#ifndef CT_FUZZ_COMMON_H
#define CT_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* an anonymous file holding data; path receives /proc/self/fd/N (suffix appended); -1 on error */
static inline int mem_file(const uint8_t *data, size_t size, char *path, size_t cap, const char *suffix) {
    int fd = memfd_create("ct-fuzz", 0);
    if (fd < 0) return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) { close(fd); return -1; }
        off += (size_t)w;
    }
    snprintf(path, cap, "/proc/self/fd/%d%s", fd, suffix);
    return fd;
}

#endif
