/* A minimal check harness shared by the C tests: counts checks and prints
 * "NAME: N passed, N failed" at the end. */
#ifndef HOLDFAST_TEST_CHECK_H
#define HOLDFAST_TEST_CHECK_H

#include <stdio.h>

static int passed, failed;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) {                                                                \
      passed++;                                                                \
    } else {                                                                   \
      failed++;                                                                \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

static int report(const char *name) {
  printf("%s: %d passed, %d failed\n", name, passed, failed);
  return failed ? 1 : 0;
}

#endif
