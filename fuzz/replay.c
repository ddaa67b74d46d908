/*
 * replay.c - runs a fuzz target over its committed corpus without libFuzzer
 * (SQLite's fuzzcheck idea), so `make check` exercises every decoder on every
 * seed and every crash ever found. Linked with one fuzz/fuzz_<name>.c; the
 * corpus directory is fuzz/corpus/<name>, found from this program's name
 * (replay_<name>). Each input is one test case; a target signals a violated
 * property by abort(), which ends the run without a summary line, and
 * tests/run.sh counts that as a failure.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    (void)argc;
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (strncmp(base, "replay_", 7) != 0) {
        fprintf(stderr, "replay: cannot tell the target from the name '%s'\n", base);
        return 2;
    }
    char dir[512];
    snprintf(dir, sizeof dir, "fuzz/corpus/%s", base + 7);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: cannot open corpus '%s'\n", dir);
        return 2;
    }
    int passed = 0;
    static uint8_t buf[1 << 20];
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) {
            printf("FAIL %s: cannot open\n", path);
            closedir(d);
            return 1;
        }
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        /* A copy in an exact-size heap block lets ASan catch any overread. */
        uint8_t *copy = malloc(n ? n : 1);
        if (!copy) return 2;
        memcpy(copy, buf, n);
        LLVMFuzzerTestOneInput(copy, n);
        free(copy);
        passed++;
    }
    closedir(d);
    if (passed == 0) {
        printf("FAIL %s: empty corpus\n", dir);
        printf("# 0 passed, 1 failed\n");
        return 1;
    }
    printf("# %d passed, 0 failed\n", passed);
    return 0;
}
