/* A resumable loop in C: progress survives a crash because every
 * checkpoint goes to Holdfast's SQLite store. Run it twice with the same
 * path and the second run resumes where the first stopped.
 *
 *   gcc -std=c11 -Iinclude examples/c/store.c -Ltarget/debug -lholdfast_capi -o store
 *   ./store /tmp/progress.sqlite3 [stop-after]
 */
#include <holdfast.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
  char message[1024];
  holdfast_last_error_message(message, sizeof message);
  fprintf(stderr, "%s: %s\n", what, message);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s STORE_PATH [STOP_AFTER]\n", argv[0]);
    return 2;
  }
  long stop_after = argc > 2 ? strtol(argv[2], NULL, 10) : -1;
  const char *job = "example-job";

  holdfast_store *store = NULL;
  if (holdfast_store_open_sqlite(argv[1], NULL, &store) != HOLDFAST_OK) return fail("open");
  holdfast_store_execution *execution = NULL;
  if (holdfast_store_begin(store, (const uint8_t *)job, strlen(job), (const uint8_t *)"CountJob", 8, &execution) !=
      HOLDFAST_OK)
    return fail("begin");

  /* Where to resume: the stored cursor, if this job has one. */
  long next = 0;
  char cursor[32];
  size_t len = 0;
  if (holdfast_store_execution_cursor(execution, (uint8_t *)cursor, sizeof cursor - 1, &len) == HOLDFAST_OK) {
    cursor[len] = '\0';
    next = strtol(cursor, NULL, 10);
    printf("resuming at item %ld\n", next);
  }

  for (long done = 0; next < 10; next++, done++) {
    if (stop_after >= 0 && done == stop_after) {
      printf("stopping before item %ld (as if killed)\n", next);
      holdfast_store_execution_free(execution);
      holdfast_store_free(store);
      return 0;
    }
    printf("item %ld\n", next);
    int n = snprintf(cursor, sizeof cursor, "%ld", next + 1);
    if (holdfast_store_execution_checkpoint(execution, (const uint8_t *)"count", 5, (const uint8_t *)cursor,
                                            (size_t)n, true) != HOLDFAST_OK)
      return fail("checkpoint"); /* HOLDFAST_STALE: a newer execution owns the job */
  }
  if (holdfast_store_execution_complete_step(execution) != HOLDFAST_OK) return fail("complete_step");
  if (holdfast_store_execution_complete(execution) != HOLDFAST_OK) return fail("complete");
  printf("done\n");
  holdfast_store_execution_free(execution);
  if (holdfast_store_close(store) != HOLDFAST_OK) return fail("close");
  holdfast_store_free(store);
  return 0;
}
