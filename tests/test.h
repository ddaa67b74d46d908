/*
 * test.h - the whole test harness: no framework, one binary per module.
 *
 * A test file defines `static void test_x(void)` functions and lists them in
 * TESTS(...) at the bottom; main() runs each case, prints `ok NAME` or
 * `FAIL NAME: file:line: what`, and ends with `# N passed, M failed`, which
 * tests/run.sh sums into the final line of `make check`. A failed ASSERT ends
 * the case (longjmp) but not the binary, so one bug shows as one failure.
 *
 * Each case builds its own state: DUCAT_TEST_REVERSE=1 runs the cases last
 * to first, and DUCAT_TEST_ONLY=NAME runs one alone, to show that no case
 * depends on another having run before it.
 */
#ifndef DUCAT_TEST_H
#define DUCAT_TEST_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ducat/err.h"

struct test_case {
    const char *name;
    void (*fn)(void);
};

static jmp_buf test_jmp;
static const char *test_dir = "tests";

#define FAIL_AT(...)                                                                               \
    do {                                                                                           \
        printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        longjmp(test_jmp, 1);                                                                      \
    } while (0)

#define ASSERT(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) FAIL_AT("assertion failed: %s", #c);                                             \
    } while (0)

#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) FAIL_AT("%s == %lld, expected %s == %lld", #a, a_, #b, b_);                  \
    } while (0)

#define ASSERT_STR(a, b)                                                                           \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (strcmp(a_, b_) != 0) FAIL_AT("%s == \"%s\", expected \"%s\"", #a, a_, b_);             \
    } while (0)

#define ASSERT_MEM(a, b, n)                                                                        \
    do {                                                                                           \
        if (memcmp((a), (b), (n)) != 0) FAIL_AT("bytes differ: %s vs %s", #a, #b);                 \
    } while (0)

/* Asserts an enum dc_err result, printing both names on mismatch. */
#define ASSERT_ERR(expr, want)                                                                     \
    do {                                                                                           \
        enum dc_err got_ = (expr);                                                                 \
        if (got_ != (want))                                                                        \
            FAIL_AT("%s returned %s, expected %s", #expr, dc_err_name(got_), dc_err_name(want));   \
    } while (0)

#define ASSERT_OK(expr) ASSERT_ERR(expr, DC_OK)

#define TESTS(...)                                                                                 \
    static const struct test_case test_cases[] = {__VA_ARGS__};                                    \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        static int passed, failed;                                                                 \
        if (argc > 1) test_dir = argv[1];                                                          \
        setvbuf(stdout, NULL, _IOLBF, 0);                                                          \
        const size_t n_ = sizeof test_cases / sizeof test_cases[0];                                \
        const char *only_ = getenv("DUCAT_TEST_ONLY");                                             \
        int rev_ = getenv("DUCAT_TEST_REVERSE") != NULL;                                           \
        for (volatile size_t k = 0; k < n_; k++) {                                                 \
            volatile size_t i = rev_ ? n_ - 1 - k : k;                                             \
            if (only_ && strcmp(only_, test_cases[i].name) != 0) continue;                         \
            if (setjmp(test_jmp) == 0) {                                                           \
                test_cases[i].fn();                                                                \
                printf("ok %s\n", test_cases[i].name);                                             \
                passed++;                                                                          \
            } else {                                                                               \
                printf("FAIL %s\n", test_cases[i].name);                                           \
                failed++;                                                                          \
            }                                                                                      \
        }                                                                                          \
        printf("# %d passed, %d failed\n", passed, failed);                                        \
        return failed ? 1 : 0;                                                                     \
    }

#define T(fn)                                                                                      \
    {                                                                                              \
#fn, fn                                                                                    \
    }

#endif
