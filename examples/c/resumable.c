/* A resumable loop in C that a deploy stops with SIGTERM: the handler
 * only sets a flag; the loop sees it after its next checkpoint, makes the
 * progress durable, gives the execution up and exits 75 ("try again"),
 * saying where it will resume. Run again with the same path, it resumes
 * there. SIGKILL loses nothing either: every checkpoint is committed.
 *
 *   gcc -std=c11 -Iinclude examples/c/resumable.c -Ltarget/debug -lholdfast_capi -o resumable
 *   ./resumable /tmp/progress.sqlite3 ITEMS
 */
#define _POSIX_C_SOURCE 200809L
#include <holdfast.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop_requested = 0;

static void on_term(int signo) {
  (void)signo;
  stop_requested = 1;
}

static int fail(const char *what) {
  char message[1024];
  holdfast_last_error_message(message, sizeof message);
  fprintf(stderr, "%s: %s\n", what, message);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s STORE_PATH ITEMS\n", argv[0]);
    return 2;
  }
  long items = strtol(argv[2], NULL, 10);
  const char *key = "backfill:c-example";
  struct sigaction action = {0};
  action.sa_handler = on_term;
  sigaction(SIGTERM, &action, NULL);

  holdfast_store *store = NULL;
  if (holdfast_store_open_sqlite(argv[1], NULL, &store) != HOLDFAST_OK) return fail("open");
  /* A second run of a finished backfill must not redo it: begin leaves a
   * completed record alone (in the same store operation, so two runs
   * cannot both start it over) and says so. */
  holdfast_store_execution *run = NULL;
  if (holdfast_store_begin(store, (const uint8_t *)key, strlen(key), (const uint8_t *)"Backfill", 8, &run) != HOLDFAST_OK)
    return fail("begin");
  holdfast_store_execution_info info;
  if (holdfast_store_execution_get_info(run, &info) != HOLDFAST_OK) return fail("info");
  if (!info.began) {
    printf("%s already completed\n", key);
    holdfast_store_execution_free(run);
    holdfast_store_free(store);
    return 0;
  }

  long next = 0;
  char cursor[32];
  size_t len = 0;
  if (holdfast_store_execution_cursor(run, (uint8_t *)cursor, sizeof cursor - 1, &len) == HOLDFAST_OK) {
    cursor[len] = '\0';
    next = strtol(cursor, NULL, 10);
    printf("resuming at item %ld\n", next);
  }
  struct timespec pause = {0, 10 * 1000 * 1000};
  for (; next < items; next++) {
    printf("item %ld\n", next);
    fflush(stdout);
    nanosleep(&pause, NULL); /* the work */
    int n = snprintf(cursor, sizeof cursor, "%ld", next + 1);
    if (holdfast_store_execution_checkpoint(run, (const uint8_t *)"copy", 4, (const uint8_t *)cursor, (size_t)n, true) !=
        HOLDFAST_OK)
      return fail("checkpoint"); /* HOLDFAST_STALE: a newer run of the key owns it */
    if (stop_requested) {
      if (holdfast_store_execution_interrupt(run) != HOLDFAST_OK) return fail("interrupt");
      if (holdfast_store_execution_release(run, true) != HOLDFAST_OK) return fail("release");
      fprintf(stderr, "%s interrupted (SIGTERM); run it again to resume at item %ld\n", key, next + 1);
      holdfast_store_execution_free(run);
      holdfast_store_free(store);
      return 75;
    }
  }
  if (holdfast_store_execution_complete_step(run) != HOLDFAST_OK) return fail("complete_step");
  if (holdfast_store_execution_complete(run) != HOLDFAST_OK) return fail("complete");
  printf("done\n");
  holdfast_store_execution_free(run);
  if (holdfast_store_close(store) != HOLDFAST_OK) return fail("close");
  holdfast_store_free(store);
  return 0;
}
