/* The continuation store through the C ABI: every operation on the memory,
 * SQLite and PostgreSQL backends, fencing, limits, bad handles and files,
 * and a crash test (a forked child checkpointing under every_checkpoint is
 * SIGKILLed at a random moment, 50 times; the last acknowledged checkpoint
 * must be there). PostgreSQL comes from HOLDFAST_TEST_POSTGRES_URL, which
 * bin/test sets; without it the PostgreSQL checks fail, never skip. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <holdfast.h>

#include "check.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char message[2048];
static const char *last_error(void) {
  holdfast_last_error_message(message, sizeof message);
  return message;
}

#define S(text) (const uint8_t *)(text), strlen(text)

static char json[1 << 16];

static int get_json(holdfast_store *store, const char *job) {
  size_t len = 0;
  return holdfast_store_get_json(store, S(job), json, sizeof json, &len);
}

/* Begin, checkpoint, complete a step, read progress back, complete. */
static void lifecycle(holdfast_store *store, const char *job) {
  holdfast_store_execution *e = NULL;
  CHECK(holdfast_store_begin(store, S(job), S("ImportJob"), &e) == HOLDFAST_OK);
  holdfast_store_execution_info info;
  CHECK(holdfast_store_execution_get_info(e, &info) == HOLDFAST_OK);
  /* 1 in a new store; above every deleted record's token otherwise. */
  uint64_t first = info.token;
  CHECK(first >= 1 && !info.existed && info.completed_steps == 0 && !info.has_current_step && info.began);

  CHECK(holdfast_store_execution_checkpoint(e, S("validate"), NULL, 0, false) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_complete_step(e) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_checkpoint(e, S("process"), S("41"), true) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_checkpoint(e, S("process"), S("42"), true) == HOLDFAST_OK);
  CHECK(get_json(store, job) == HOLDFAST_OK);
  CHECK(strstr(json, "\"completed\":[\"validate\"]") != NULL);
  CHECK(strstr(json, "\"step\":\"process\"") != NULL && strstr(json, "\"cursor\":\"42\"") != NULL);
  holdfast_store_execution_free(e);

  /* The next execution resumes from it. */
  CHECK(holdfast_store_begin(store, S(job), S("ImportJob"), &e) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_get_info(e, &info) == HOLDFAST_OK);
  CHECK(info.token == first + 1 && info.existed && info.resumptions == 1 && info.completed_steps == 1);
  CHECK(info.has_current_step && info.has_cursor);
  char name[64];
  uint8_t cursor[64];
  size_t len = 0;
  CHECK(holdfast_store_execution_completed_step(e, 0, name, sizeof name, &len) == HOLDFAST_OK && strcmp(name, "validate") == 0);
  CHECK(holdfast_store_execution_completed_step(e, 1, name, sizeof name, &len) == HOLDFAST_INVALID_ARGUMENT);
  CHECK(holdfast_store_execution_current_step(e, name, sizeof name, &len) == HOLDFAST_OK && strcmp(name, "process") == 0);
  CHECK(holdfast_store_execution_cursor(e, cursor, 1, &len) == HOLDFAST_BUFFER_TOO_SMALL && len == 2);
  CHECK(holdfast_store_execution_cursor(e, cursor, sizeof cursor, &len) == HOLDFAST_OK && len == 2 && memcmp(cursor, "42", 2) == 0);

  CHECK(holdfast_store_execution_complete_step(e) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_cursor(e, cursor, sizeof cursor, &len) == HOLDFAST_NOT_FOUND);
  CHECK(holdfast_store_execution_complete(e) == HOLDFAST_OK);
  CHECK(get_json(store, job) == HOLDFAST_OK);
  CHECK(strstr(json, "\"completed_at\":null") == NULL && strstr(json, "\"current\":null") != NULL);
  holdfast_store_execution_free(e);
  /* Begun again: the finished job is not redone (nothing began, writes are
   * refused, the record is as it was); restart runs it anew. */
  CHECK(holdfast_store_begin(store, S(job), S("ImportJob"), &e) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_get_info(e, &info) == HOLDFAST_OK && info.completed && info.existed && !info.began);
  CHECK(info.completed_steps == 2);
  CHECK(holdfast_store_execution_checkpoint(e, S("process"), S("43"), true) == HOLDFAST_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "already completed") != NULL);
  CHECK(get_json(store, job) == HOLDFAST_OK && strstr(json, "\"completed_at\":null") == NULL);
  holdfast_store_execution_free(e);
  CHECK(holdfast_store_restart(store, S(job), S("ImportJob"), &e) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_get_info(e, &info) == HOLDFAST_OK && info.completed && info.began);
  CHECK(info.completed_steps == 0 && !info.has_current_step && info.resumptions == 0);
  holdfast_store_execution_free(e);

  CHECK(get_json(store, "no-such-job") == HOLDFAST_NOT_FOUND);
  CHECK(strstr(last_error(), "no continuation record for job \"no-such-job\"") != NULL);
}

static void fencing_and_limits(holdfast_store *store, const char *job) {
  holdfast_store_execution *old = NULL, *new = NULL;
  CHECK(holdfast_store_begin(store, S(job), S("Job"), &old) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_checkpoint(old, S("s"), S("1"), true) == HOLDFAST_OK);
  CHECK(holdfast_store_begin(store, S(job), S("Job"), &new) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_checkpoint(old, S("s"), S("2"), true) == HOLDFAST_STALE);
  CHECK(strstr(last_error(), "is stale") != NULL);
  CHECK(holdfast_store_execution_complete(old) == HOLDFAST_STALE);
  CHECK(get_json(store, job) == HOLDFAST_OK && strstr(json, "\"cursor\":\"1\"") != NULL);

  static uint8_t big[65537];
  memset(big, 'x', sizeof big);
  CHECK(holdfast_store_execution_checkpoint(new, S("s"), big, sizeof big, true) == HOLDFAST_LIMIT);
  CHECK(strstr(last_error(), "cursor is 65537 bytes, over the limit of 65536") != NULL);
  CHECK(holdfast_store_execution_checkpoint(new, S("s"), big, sizeof big - 1, true) == HOLDFAST_OK);
  holdfast_store_execution *e = NULL;
  CHECK(holdfast_store_begin(store, (const uint8_t *)"", 0, S("Job"), &e) == HOLDFAST_INVALID_ARGUMENT);
  CHECK(holdfast_store_execution_free(old) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_free(new) == HOLDFAST_OK);
}

static void list_and_prune(holdfast_store *store, const char *prefix) {
  char a[128], b[128], cls[128];
  snprintf(a, sizeof a, "%s-a", prefix);
  snprintf(b, sizeof b, "%s-b", prefix);
  snprintf(cls, sizeof cls, "%s-Class", prefix);
  holdfast_store_execution *ea = NULL, *eb = NULL;
  CHECK(holdfast_store_begin(store, S(a), S(cls), &ea) == HOLDFAST_OK);
  CHECK(holdfast_store_begin(store, S(b), S(cls), &eb) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_complete(ea) == HOLDFAST_OK);
  size_t len = 0;
  CHECK(holdfast_store_list_json(store, HOLDFAST_RECORDS_IN_FLIGHT, cls, 10, true, json, sizeof json, &len) == HOLDFAST_OK);
  CHECK(strstr(json, b) != NULL && strstr(json, a) == NULL && json[0] == '[');
  CHECK(holdfast_store_list_json(store, HOLDFAST_RECORDS_ANY, cls, 10, true, json, 4, &len) == HOLDFAST_BUFFER_TOO_SMALL && len > 4);
  uint64_t deleted = 0;
  CHECK(holdfast_store_prune(store, -1, &deleted) == HOLDFAST_OK && deleted >= 1);
  CHECK(get_json(store, a) == HOLDFAST_NOT_FOUND);
  CHECK(get_json(store, b) == HOLDFAST_OK);
  holdfast_store_execution_free(ea);
  holdfast_store_execution_free(eb);
}

static void bad_input(holdfast_store *store) {
  holdfast_store_execution *e = NULL;
  CHECK(holdfast_store_begin(NULL, S("j"), S("J"), &e) == HOLDFAST_NULL_ARGUMENT);
  CHECK(holdfast_store_begin(store, S("j"), S("J"), NULL) == HOLDFAST_NULL_ARGUMENT);
  CHECK(holdfast_store_execution_checkpoint((holdfast_store_execution *)store, S("s"), NULL, 0, false) == HOLDFAST_INVALID_HANDLE);
  CHECK(strstr(last_error(), "is a holdfast_store, not a holdfast_store_execution") != NULL);
  CHECK(holdfast_store_flush((holdfast_store *)(uintptr_t)0x1234) == HOLDFAST_INVALID_HANDLE);
  CHECK(holdfast_store_free(NULL) == HOLDFAST_OK);
  holdfast_store_options options = {0};
  options.durability = HOLDFAST_DURABILITY_INTERVAL;
  holdfast_store *s = NULL;
  CHECK(holdfast_store_open_memory(&options, &s) == HOLDFAST_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "durability interval must be from 1 to 315360000000 milliseconds, got 0") != NULL);
  /* Integers out of range are errors, not undefined behaviour or panics. */
  options.durability = 3;
  CHECK(holdfast_store_open_memory(&options, &s) == HOLDFAST_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "durability 3 is not one of") != NULL);
  options.durability = HOLDFAST_DURABILITY_EVERY_CHECKPOINT;
  options.sqlite_busy_timeout_ms = (uint64_t)INT32_MAX + 1;
  CHECK(holdfast_store_open_sqlite("/tmp/holdfast-never-opened.sqlite3", &options, &s) == HOLDFAST_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "busy_timeout must be at most 2147483647 ms") != NULL);
  options.sqlite_busy_timeout_ms = 0;
  options.max_cursor_bytes = (size_t)1 << 40;
  CHECK(holdfast_store_open_memory(&options, &s) == HOLDFAST_INVALID_ARGUMENT);
  options.max_cursor_bytes = 0;
  options.retention_ms = INT64_MAX;
  CHECK(holdfast_store_open_memory(&options, &s) == HOLDFAST_INVALID_ARGUMENT);
  options.retention_ms = 0;
  options.lease_ms = 500;
  CHECK(holdfast_store_open_memory(&options, &s) == HOLDFAST_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "lease must be from 1 s to 1 day, got 500 ms") != NULL);
  options.lease_ms = 2000;
  CHECK(holdfast_store_open_memory(&options, &s) == HOLDFAST_OK);
  holdfast_store_free(s);
  options.lease_ms = 0;
  size_t len = 0;
  CHECK(holdfast_store_list_json(store, 0xFFFFFFFFu, NULL, 10, true, json, sizeof json, &len) == HOLDFAST_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "state 4294967295 is not one of") != NULL);
  /* NUL inside a name: refused the same on every backend. */
  CHECK(holdfast_store_begin(store, (const uint8_t *)"a\0b", 3, S("J"), &e) == HOLDFAST_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "contains a NUL byte") != NULL);
}

/* A job begun with a payload whose process gives it up keeping its lease
   (as one whose queue dies with it): claimed once the lease (1 s) runs out,
   with its payload; too small a buffer keeps nothing claimed; the claim
   fences the old execution; the job resumes; a discarded record is gone. */
static void recovery(holdfast_store *store, const char *job) {
  holdfast_store_execution *e = NULL;
  CHECK(holdfast_store_begin_with_payload(store, S(job), S("ImportJob"), S("{\"args\":[7]}"), &e) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_checkpoint(e, S("process"), S("[300]"), true) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_release(e, false) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_checkpoint(e, S("process"), S("[301]"), true) == HOLDFAST_INVALID_ARGUMENT);
  CHECK(holdfast_store_execution_free(e) == HOLDFAST_OK);

  char small[8];
  size_t len = 0;
  holdfast_status status = HOLDFAST_OK;
  struct timespec started, now;
  clock_gettime(CLOCK_MONOTONIC, &started);
  do {
    status = holdfast_store_claim_orphans_json(store, 10, small, sizeof small, &len);
    if (status != HOLDFAST_OK || strcmp(small, "[]") != 0) break;
    usleep(20000);
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while (now.tv_sec - started.tv_sec < 10);
  CHECK(status == HOLDFAST_BUFFER_TOO_SMALL && len > sizeof small);
  /* Handed back: the next call claims it, with a larger buffer. */
  CHECK(holdfast_store_claim_orphans_json(store, 10, json, sizeof json, &len) == HOLDFAST_OK);
  CHECK(strstr(json, job) != NULL && strstr(json, "\"payload\":\"{\\\"args\\\":[7]}\"") != NULL);
  CHECK(strstr(json, "\"token\":3") != NULL && strstr(json, "\"expired_owner\":\"") != NULL);
  /* The buffer's hand-back was not counted as a recovery. */
  CHECK(strstr(json, "\"recoveries\":1") != NULL);
  CHECK(holdfast_store_claim_orphans_json(store, 10, json, sizeof json, &len) == HOLDFAST_OK && strcmp(json, "[]") == 0);
  /* Its queue is down: given back, claimed again at once, still uncounted. */
  CHECK(holdfast_store_hand_back(store, S(job), 3, 0) == HOLDFAST_OK);
  CHECK(holdfast_store_claim_orphans_json(store, 10, json, sizeof json, &len) == HOLDFAST_OK);
  CHECK(strstr(json, "\"token\":4") != NULL && strstr(json, "\"recoveries\":1") != NULL);
  /* Queued: the claim holds past its one-lease claim (1 s here). */
  CHECK(holdfast_store_handed_off(store, S(job), 4) == HOLDFAST_OK);
  usleep(1500000);
  CHECK(holdfast_store_claim_orphans_json(store, 10, json, sizeof json, &len) == HOLDFAST_OK && strcmp(json, "[]") == 0);
  CHECK(holdfast_store_handed_off(store, NULL, 3, 4) == HOLDFAST_NULL_ARGUMENT);

  CHECK(holdfast_store_begin_with_payload(store, S(job), S("ImportJob"), S("{\"args\":[7]}"), &e) == HOLDFAST_OK);
  holdfast_store_execution_info info;
  CHECK(holdfast_store_execution_get_info(e, &info) == HOLDFAST_OK && info.token == 5 && info.has_cursor);
  uint8_t cursor[16];
  CHECK(holdfast_store_execution_cursor(e, cursor, sizeof cursor, &len) == HOLDFAST_OK && memcmp(cursor, "[300]", 5) == 0);
  CHECK(holdfast_store_execution_free(e) == HOLDFAST_OK);

  bool existed = false;
  CHECK(holdfast_store_discard(store, S(job), &existed) == HOLDFAST_OK && existed);
  CHECK(get_json(store, job) == HOLDFAST_NOT_FOUND);
  CHECK(holdfast_store_discard(store, S(job), &existed) == HOLDFAST_OK && !existed);
  CHECK(holdfast_store_claim_orphans_json(store, 10, json, sizeof json, NULL) == HOLDFAST_NULL_ARGUMENT);
}

/* recovery() on a fresh store with a 1 s lease: memory, SQLite, and
   PostgreSQL in a table of its own (others' orphans are not ours). */
static void recovery_everywhere(const char *dir, const char *url) {
  holdfast_store_options options = {0};
  options.lease_ms = 1000;
  holdfast_store *store = NULL;
  CHECK(holdfast_store_open_memory(&options, &store) == HOLDFAST_OK);
  recovery(store, "memory-orphan");
  CHECK(holdfast_store_free(store) == HOLDFAST_OK);

  char path[512];
  snprintf(path, sizeof path, "%s/recovery.sqlite3", dir);
  CHECK(holdfast_store_open_sqlite(path, &options, &store) == HOLDFAST_OK);
  recovery(store, "sqlite-orphan");
  CHECK(holdfast_store_free(store) == HOLDFAST_OK);

  if (url == NULL) return;
  char table[64];
  snprintf(table, sizeof table, "holdfast_c_recovery_%ld", (long)getpid());
  options.postgres_table = table;
  CHECK(holdfast_store_open_postgres(url, &options, &store) == HOLDFAST_OK);
  recovery(store, "pg-orphan");
  CHECK(holdfast_store_free(store) == HOLDFAST_OK);
}

static void sqlite_files(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/notes.txt", dir);
  FILE *f = fopen(path, "w");
  for (int i = 0; i < 100; i++) fputs("these are notes, not a database\n", f);
  fclose(f);
  holdfast_store *store = NULL;
  CHECK(holdfast_store_open_sqlite(path, NULL, &store) == HOLDFAST_NOT_A_DATABASE);
  CHECK(strstr(last_error(), "is not a Holdfast store") != NULL && strstr(message, path) != NULL);
  CHECK(holdfast_store_open_sqlite("/nonexistent-holdfast/x.sqlite3", NULL, &store) == HOLDFAST_IO);
  CHECK(strstr(last_error(), "does not exist") != NULL);
}

/* ---- crash test ------------------------------------------------------ */

static long stored_cursor(const char *path) {
  holdfast_store *store = NULL;
  if (holdfast_store_open_sqlite(path, NULL, &store) != HOLDFAST_OK) return -1;
  long n = 0;
  if (get_json(store, "crash-job") == HOLDFAST_OK) {
    char *c = strstr(json, "\"cursor\":\"");
    if (c) n = strtol(c + 10, NULL, 10);
  }
  holdfast_store_free(store);
  return n;
}

static void crash_child(const char *path, int fd) {
  long n = stored_cursor(path);
  holdfast_store *store = NULL;
  holdfast_store_execution *e = NULL;
  if (holdfast_store_open_sqlite(path, NULL, &store) != HOLDFAST_OK) _exit(2);
  if (holdfast_store_begin(store, S("crash-job"), S("CrashJob"), &e) != HOLDFAST_OK) _exit(3);
  for (;;) {
    char cursor[32];
    n++;
    int len = snprintf(cursor, sizeof cursor, "%ld", n);
    if (holdfast_store_execution_checkpoint(e, S("s"), (const uint8_t *)cursor, (size_t)len, true) != HOLDFAST_OK) _exit(4);
    if (write(fd, &n, sizeof n) != (ssize_t)sizeof n) _exit(5);
  }
}

static void crash_test(const char *dir, int cycles) {
  char path[512];
  snprintf(path, sizeof path, "%s/crash.sqlite3", dir);
  srand((unsigned)time(NULL));
  int ok_cycles = 0;
  for (int cycle = 0; cycle < cycles; cycle++) {
    int fds[2];
    if (pipe(fds) != 0) { CHECK(0); return; }
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      crash_child(path, fds[1]);
    }
    close(fds[1]);
    long ack = 0, last = 0;
    int wanted = 1 + rand() % 100, got = 0;
    while (got < wanted && read(fds[0], &ack, sizeof ack) == (ssize_t)sizeof ack) {
      last = ack;
      got++;
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    /* Acks already in the pipe were acknowledged before the kill. */
    while (read(fds[0], &ack, sizeof ack) == (ssize_t)sizeof ack) last = ack;
    close(fds[0]);
    long stored = stored_cursor(path);
    if (stored >= last && stored <= last + 1 && got > 0) {
      ok_cycles++;
    } else {
      fprintf(stderr, "crash cycle %d: stored %ld, last acknowledged %ld (%d acks)\n", cycle, stored, last, got);
    }
  }
  CHECK(ok_cycles == cycles);
  printf("crash test: %d of %d cycles kept every acknowledged checkpoint\n", ok_cycles, cycles);
}

/* A zero-initialised holdfast_store_options means the documented defaults,
 * field by field: above all, completed records stay until pruned (a zero
 * retention_ms once meant "delete at once"). */
static void zeroed_options_are_the_defaults(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/zeroed.sqlite3", dir);
  holdfast_store_options options = {0};
  holdfast_store *store = NULL;
  CHECK(holdfast_store_open_sqlite(path, &options, &store) == HOLDFAST_OK);
  holdfast_store_execution *e = NULL;
  CHECK(holdfast_store_begin(store, S("zeroed-job"), S("ZeroJob"), &e) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_checkpoint(e, S("only"), S("[1]"), true) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_complete(e) == HOLDFAST_OK);
  /* A second job completing runs the retention check too. */
  holdfast_store_execution *other = NULL;
  CHECK(holdfast_store_begin(store, S("zeroed-other"), S("ZeroJob"), &other) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_complete(other) == HOLDFAST_OK);
  CHECK(get_json(store, "zeroed-job") == HOLDFAST_OK);
  CHECK(strstr(json, "\"completed_at\":null") == NULL && strstr(json, "\"cursor\":\"[1]\"") != NULL);
  /* Defaults: a 64 KiB cursor fits, one byte more does not. */
  static uint8_t big[65537];
  memset(big, '7', sizeof big);
  holdfast_store_execution *sized = NULL;
  CHECK(holdfast_store_begin(store, S("zeroed-sized"), S("ZeroJob"), &sized) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_checkpoint(sized, S("s"), big, 65536, true) == HOLDFAST_OK);
  CHECK(holdfast_store_execution_checkpoint(sized, S("s"), big, 65537, true) == HOLDFAST_LIMIT);
  /* A completed execution writes nothing more. */
  CHECK(holdfast_store_execution_checkpoint(e, S("only"), S("[2]"), true) == HOLDFAST_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "already completed") != NULL);
  CHECK(holdfast_store_execution_complete(e) == HOLDFAST_INVALID_ARGUMENT);
  CHECK(get_json(store, "zeroed-job") == HOLDFAST_OK && strstr(json, "\"cursor\":\"[1]\"") != NULL);
  holdfast_store_execution_free(e);
  holdfast_store_execution_free(other);
  holdfast_store_execution_free(sized);
  CHECK(holdfast_store_free(store) == HOLDFAST_OK);
}

int main(void) {
  char dir[] = "/tmp/holdfast-c-store-XXXXXX";
  if (!mkdtemp(dir)) return 2;
  char path[512];
  char job[128];

  holdfast_store *memory = NULL;
  CHECK(holdfast_store_open_memory(NULL, &memory) == HOLDFAST_OK);
  lifecycle(memory, "memory-job");
  fencing_and_limits(memory, "memory-fenced");
  list_and_prune(memory, "memory-list");
  bad_input(memory);
  CHECK(holdfast_store_free(memory) == HOLDFAST_OK);
  CHECK(holdfast_store_free(memory) == HOLDFAST_INVALID_HANDLE);

  snprintf(path, sizeof path, "%s/store.sqlite3", dir);
  holdfast_store *sqlite = NULL;
  holdfast_store_options options = {0};
  options.durability = HOLDFAST_DURABILITY_INTERVAL;
  options.interval_ms = 20;
  CHECK(holdfast_store_open_sqlite(path, &options, &sqlite) == HOLDFAST_OK);
  lifecycle(sqlite, "sqlite-job");
  fencing_and_limits(sqlite, "sqlite-fenced");
  list_and_prune(sqlite, "sqlite-list");
  CHECK(holdfast_store_close(sqlite) == HOLDFAST_OK);
  CHECK(holdfast_store_flush(sqlite) == HOLDFAST_CLOSED);
  CHECK(holdfast_store_free(sqlite) == HOLDFAST_OK);
  sqlite_files(dir);

  const char *url = getenv("HOLDFAST_TEST_POSTGRES_URL");
  CHECK(url != NULL);
  if (url == NULL) {
    fprintf(stderr, "HOLDFAST_TEST_POSTGRES_URL is not set: run bin/test (it starts bin/test-postgres)\n");
  } else {
    holdfast_store *pg = NULL;
    CHECK(holdfast_store_open_postgres(url, NULL, &pg) == HOLDFAST_OK);
    snprintf(job, sizeof job, "c-pg-%ld", (long)getpid());
    lifecycle(pg, job);
    snprintf(job, sizeof job, "c-pg-fenced-%ld", (long)getpid());
    fencing_and_limits(pg, job);
    snprintf(job, sizeof job, "c-pg-list-%ld", (long)getpid());
    list_and_prune(pg, job);
    CHECK(holdfast_store_free(pg) == HOLDFAST_OK);
    holdfast_store *bad = NULL;
    CHECK(holdfast_store_open_postgres("postgres://app:hunter2@127.0.0.1:1/x?connect_timeout=2", NULL, &bad) == HOLDFAST_IO);
    CHECK(strstr(last_error(), "hunter2") == NULL && strstr(message, "postgres://app:***@127.0.0.1:1/x") != NULL);
  }

  zeroed_options_are_the_defaults(dir);
  recovery_everywhere(dir, url);
  crash_test(dir, 50);
  return report("test_store");
}
