/* The share lock through the C ABI, with real threads: compiled against
 * include/holdfast.h with -std=c11 -Wall -Wextra -Werror, run plain and
 * with sanitizers. A thread is "stuck" when the lock's snapshot shows it
 * sleeping (a bounded poll of a condition, not a sleep). */
#define _POSIX_C_SOURCE 200809L
#include <holdfast.h>

#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


static char message[2048];
static const char *last_error(void) {
  holdfast_last_error_message(message, sizeof message);
  return message;
}

static void pause_briefly(void) {
  struct timespec ts = {0, 1000000}; /* 1 ms between polls */
  nanosleep(&ts, NULL);
}

/* Waits (up to 10 s) until the snapshot shows `context` sleeping in `sleeper`. */
static int until_sleeping(holdfast_share_lock *lock, uint64_t context, const char *sleeper) {
  char json[4096], needle[128];
  snprintf(needle, sizeof needle, "{\"context\":%llu,", (unsigned long long)context);
  char expected[64];
  snprintf(expected, sizeof expected, "\"sleeper\":\"%s\"", sleeper);
  for (int i = 0; i < 10000; i++) {
    size_t len = 0;
    if (holdfast_share_lock_snapshot_json(lock, json, sizeof json, &len) == HOLDFAST_OK) {
      char *entry = strstr(json, needle);
      if (entry) {
        char *end = strchr(entry, '}');
        char *found = strstr(entry, expected);
        if (found && end && found < end) return 1;
      }
    }
    pause_briefly();
  }
  return 0;
}

struct call {
  holdfast_share_lock *lock;
  uint64_t context;
  const char *purpose;
  const char *const *compatible;
  size_t compatible_len;
  int64_t timeout_ms;
  pthread_barrier_t *together; /* upgrade only once every party shares */
  int release_fd;               /* holding_thread: keep the lock until a byte arrives */
  holdfast_status status;
  char error[2048];
};

static void *exclusive_thread(void *arg) {
  struct call *c = arg;
  bool acquired = false;
  c->status = holdfast_share_lock_start_exclusive(c->lock, c->context, c->purpose, c->compatible,
                                                  c->compatible_len, false, c->timeout_ms, &acquired);
  if (c->status == HOLDFAST_OK) {
    holdfast_share_lock_stop_exclusive(c->lock, c->context, NULL, 0);
  } else {
    holdfast_last_error_message(c->error, sizeof c->error);
  }
  return NULL;
}

/* Takes the lock exclusively and keeps it until a byte arrives on release_fd. */
static void *holding_thread(void *arg) {
  struct call *c = arg;
  bool acquired = false;
  c->status = holdfast_share_lock_start_exclusive(c->lock, c->context, c->purpose, c->compatible,
                                                  c->compatible_len, false, -1, &acquired);
  char byte;
  if (read(c->release_fd, &byte, 1) != 1) c->status = HOLDFAST_PANIC;
  if (acquired) holdfast_share_lock_stop_exclusive(c->lock, c->context, NULL, 0);
  return NULL;
}

static void *upgrade_thread(void *arg) {
  struct call *c = arg;
  holdfast_share_lock_start_sharing(c->lock, c->context, -1, NULL);
  if (c->together) pthread_barrier_wait(c->together);
  exclusive_thread(arg);
  holdfast_share_lock_stop_sharing(c->lock, c->context, NULL);
  return NULL;
}

static void *sharing_thread(void *arg) {
  struct call *c = arg;
  c->status = holdfast_share_lock_start_sharing(c->lock, c->context, c->timeout_ms, NULL);
  if (c->status == HOLDFAST_OK) holdfast_share_lock_stop_sharing(c->lock, c->context, NULL);
  return NULL;
}

static void test_basics_and_reentrancy(void) {
  holdfast_share_lock *lock = NULL;
  uint32_t shares = 0, left = 9;
  bool acquired = false;
  CHECK(holdfast_share_lock_new("basics", &lock) == HOLDFAST_OK);
  CHECK(holdfast_share_lock_start_sharing(lock, 1, -1, &shares) == HOLDFAST_OK && shares == 1);
  CHECK(holdfast_share_lock_start_sharing(lock, 1, -1, &shares) == HOLDFAST_OK && shares == 2);
  CHECK(holdfast_share_lock_start_exclusive(lock, 1, NULL, NULL, 0, false, -1, &acquired) == HOLDFAST_OK && acquired);
  CHECK(holdfast_share_lock_stop_exclusive(lock, 1, NULL, 0) == HOLDFAST_OK);
  CHECK(holdfast_share_lock_start_exclusive(lock, 2, NULL, NULL, 0, true, -1, &acquired) == HOLDFAST_OK && !acquired);
  CHECK(holdfast_share_lock_stop_sharing(lock, 1, &left) == HOLDFAST_OK && left == 1);
  CHECK(holdfast_share_lock_stop_sharing(lock, 1, &left) == HOLDFAST_OK && left == 0);
  CHECK(holdfast_share_lock_stop_exclusive(lock, 1, NULL, 0) == HOLDFAST_NOT_HELD);
  CHECK(strstr(last_error(), "invalid unlock") != NULL);
  char json[64];
  size_t len = 0;
  CHECK(holdfast_share_lock_snapshot_json(lock, json, sizeof json, &len) == HOLDFAST_OK && strcmp(json, "[]") == 0);
  holdfast_share_lock_free(lock);
}

static void test_exclusive_waits_for_sharers(void) {
  holdfast_share_lock *lock = NULL;
  holdfast_share_lock_new("waits", &lock);
  holdfast_share_lock_start_sharing(lock, 10, -1, NULL);
  struct call c = {.lock = lock, .context = 11, .timeout_ms = -1};
  pthread_t t;
  pthread_create(&t, NULL, exclusive_thread, &c);
  CHECK(until_sleeping(lock, 11, "start_exclusive"));
  char json[4096];
  size_t len = 0;
  CHECK(holdfast_share_lock_snapshot_json(lock, json, 8, &len) == HOLDFAST_BUFFER_TOO_SMALL && len > 8);
  CHECK(holdfast_share_lock_snapshot_json(lock, json, sizeof json, &len) == HOLDFAST_OK && strlen(json) == len);
  CHECK(strstr(json, "{\"context\":10,\"name\":null,\"sharing\":1,\"exclusive\":false,\"exclusive_purpose\":null,") != NULL);
  holdfast_share_lock_stop_sharing(lock, 10, NULL);
  pthread_join(t, NULL);
  CHECK(c.status == HOLDFAST_OK);
  holdfast_share_lock_free(lock);
}

static void test_timeout_names_the_holder(void) {
  holdfast_share_lock *lock = NULL;
  holdfast_share_lock_new("timeouts", &lock);
  bool acquired = false;
  holdfast_share_lock_start_exclusive(lock, 20, "load", NULL, 0, false, -1, &acquired);
  CHECK(holdfast_share_lock_start_sharing(lock, 21, 30, NULL) == HOLDFAST_TIMEOUT);
  CHECK(strstr(last_error(), "timed out after") != NULL);
  CHECK(strstr(message, "context 20: holds timeouts: the exclusive lock (purpose :load)") != NULL);
  holdfast_share_lock_stop_exclusive(lock, 20, NULL, 0);
  holdfast_share_lock_free(lock);
}

static void test_incompatible_upgrades_deadlock_and_compatible_ones_do_not(void) {
  holdfast_share_lock *lock = NULL;
  holdfast_share_lock_new("upgrades", &lock);
  /* Compatible purposes: both threads upgrade and both succeed. */
  const char *load[] = {"load"};
  struct call a = {.lock = lock, .context = 30, .purpose = "load", .compatible = load, .compatible_len = 1, .timeout_ms = -1};
  struct call b = a;
  b.context = 31;
  pthread_t ta, tb;
  pthread_create(&ta, NULL, upgrade_thread, &a);
  pthread_create(&tb, NULL, upgrade_thread, &b);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  CHECK(a.status == HOLDFAST_OK && b.status == HOLDFAST_OK);

  /* Both share, then upgrade with mutually incompatible purposes: one of
   * them gets HOLDFAST_DEADLOCK, and the other then gets the lock. */
  pthread_barrier_t together;
  pthread_barrier_init(&together, NULL, 2);
  struct call red = {.lock = lock, .context = 41, .purpose = "red", .timeout_ms = -1, .together = &together};
  struct call blue = {.lock = lock, .context = 42, .purpose = "blue", .timeout_ms = -1, .together = &together};
  pthread_create(&ta, NULL, upgrade_thread, &red);
  pthread_create(&tb, NULL, upgrade_thread, &blue);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  pthread_barrier_destroy(&together);
  CHECK((red.status == HOLDFAST_DEADLOCK) != (blue.status == HOLDFAST_DEADLOCK));
  const char *error = red.status == HOLDFAST_DEADLOCK ? red.error : blue.error;
  CHECK(strstr(error, "deadlock") != NULL && strstr(error, "context 41") != NULL && strstr(error, "context 42") != NULL);
  char json[64];
  size_t len = 0;
  CHECK(holdfast_share_lock_snapshot_json(lock, json, sizeof json, &len) == HOLDFAST_OK && strcmp(json, "[]") == 0);
  holdfast_share_lock_free(lock);
}

static void test_new_shares_wait_behind_an_upgrade(void) {
  holdfast_share_lock *lock = NULL;
  holdfast_share_lock_new("queueing", &lock);
  holdfast_share_lock_start_sharing(lock, 50, -1, NULL);
  struct call up = {.lock = lock, .context = 51, .timeout_ms = -1};
  struct call late = {.lock = lock, .context = 52, .timeout_ms = -1};
  pthread_t tu, tl;
  pthread_create(&tu, NULL, upgrade_thread, &up);
  CHECK(until_sleeping(lock, 51, "start_exclusive"));
  pthread_create(&tl, NULL, sharing_thread, &late);
  CHECK(until_sleeping(lock, 52, "start_sharing"));
  holdfast_share_lock_stop_sharing(lock, 50, NULL);
  pthread_join(tu, NULL);
  pthread_join(tl, NULL);
  CHECK(up.status == HOLDFAST_OK && late.status == HOLDFAST_OK);
  holdfast_share_lock_free(lock);
}

static void test_bad_arguments(void) {
  holdfast_share_lock *lock = NULL;
  holdfast_share_lock_new(NULL, &lock);
  CHECK(holdfast_share_lock_new(NULL, NULL) == HOLDFAST_NULL_ARGUMENT);
  CHECK(holdfast_share_lock_start_sharing(NULL, 1, -1, NULL) == HOLDFAST_NULL_ARGUMENT);
  CHECK(holdfast_share_lock_start_exclusive(lock, 1, NULL, NULL, 2, false, -1, NULL) == HOLDFAST_NULL_ARGUMENT);
  const char *with_null[] = {"load", NULL};
  CHECK(holdfast_share_lock_start_exclusive(lock, 1, NULL, with_null, 2, false, -1, NULL) == HOLDFAST_NULL_ARGUMENT);
  CHECK(holdfast_share_lock_snapshot_json(lock, NULL, 0, NULL) == HOLDFAST_NULL_ARGUMENT);
  /* A timeout past ten years is refused, not an overflow. */
  CHECK(holdfast_share_lock_start_sharing(lock, 1, INT64_MAX, NULL) == HOLDFAST_INVALID_ARGUMENT);
  bool got = false;
  CHECK(holdfast_share_lock_start_exclusive(lock, 1, NULL, NULL, 0, false, INT64_MAX, &got) == HOLDFAST_INVALID_ARGUMENT);
  holdfast_executor *executor = NULL;
  holdfast_executor_new(&executor);
  CHECK(holdfast_share_lock_start_sharing((holdfast_share_lock *)executor, 1, -1, NULL) == HOLDFAST_INVALID_HANDLE);
  holdfast_executor_free(executor);
  CHECK(holdfast_share_lock_free(lock) == HOLDFAST_OK);
  CHECK(holdfast_share_lock_stop_sharing(lock, 1, NULL) == HOLDFAST_INVALID_HANDLE);
  CHECK(strcmp(holdfast_status_name(HOLDFAST_DEADLOCK), "HOLDFAST_DEADLOCK") == 0);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000.0 + t.tv_nsec / 1e6;
}

/* timeout_ms is a bound: the call returns within it plus 50 ms even when the
 * holder never releases, and even for an upgrade whose yielded share cannot
 * be given back while another context holds the lock (it is given up). */
static void test_timeouts_are_bounds(void) {
  holdfast_share_lock *lock = NULL;
  bool acquired = true;
  holdfast_share_lock_new("bounded", &lock);
  CHECK(holdfast_share_lock_start_exclusive(lock, 40, NULL, NULL, 0, false, -1, &acquired) == HOLDFAST_OK);
  double started = now_ms();
  CHECK(holdfast_share_lock_start_exclusive(lock, 41, NULL, NULL, 0, false, 100, &acquired) == HOLDFAST_TIMEOUT);
  double took = now_ms() - started;
  CHECK(took >= 99 && took < 150);
  CHECK(holdfast_share_lock_stop_exclusive(lock, 40, NULL, 0) == HOLDFAST_OK);

  /* 50 and 51 share; 51 waits to upgrade for "c", yielding to "load"; 52
   * waits for "load"; 50 upgrades for "unload", yielding to "load" too: 52
   * gets in through both yields and stays; 50's 100 ms pass. */
  const char *load[] = {"load"};
  /* 50 and 51 wait on each other's incompatible yields (Rails' hang, a
   * DEADLOCK with detection on): the timeout must bound it all the same. */
  CHECK(holdfast_share_lock_set_detect_deadlocks(lock, false) == HOLDFAST_OK);
  CHECK(holdfast_share_lock_start_sharing(lock, 50, -1, NULL) == HOLDFAST_OK);
  struct call other = {.lock = lock, .context = 51, .purpose = "c", .compatible = load, .compatible_len = 1, .timeout_ms = -1};
  pthread_t other_thread, holder_thread;
  pthread_create(&other_thread, NULL, upgrade_thread, &other);
  CHECK(until_sleeping(lock, 51, "start_exclusive"));
  struct call holder = {.lock = lock, .context = 52, .purpose = "load", .timeout_ms = -1};
  int release[2];
  CHECK(pipe(release) == 0);
  holder.release_fd = release[0];
  pthread_create(&holder_thread, NULL, holding_thread, &holder);
  CHECK(until_sleeping(lock, 52, "start_exclusive"));
  started = now_ms();
  CHECK(holdfast_share_lock_start_exclusive(lock, 50, "unload", load, 1, false, 100, &acquired) == HOLDFAST_TIMEOUT);
  took = now_ms() - started;
  CHECK(took >= 99 && took < 150);
  char json[4096];
  size_t len = 0;
  CHECK(holdfast_share_lock_snapshot_json(lock, json, sizeof json, &len) == HOLDFAST_OK);
  CHECK(strstr(json, "{\"context\":50,") == NULL || strstr(json, "{\"context\":50,\"name\":null,\"sharing\":0,") != NULL);
  /* Now the holder lets go; the other upgrader then finishes. */
  CHECK(write(release[1], "x", 1) == 1);
  pthread_join(holder_thread, NULL);
  close(release[0]);
  close(release[1]);
  CHECK(holder.status == HOLDFAST_OK);
  pthread_join(other_thread, NULL);
  CHECK(other.status == HOLDFAST_OK);
  holdfast_share_lock_free(lock);
}

int main(void) {
  test_basics_and_reentrancy();
  test_timeouts_are_bounds();
  test_exclusive_waits_for_sharers();
  test_timeout_names_the_holder();
  test_incompatible_upgrades_deadlock_and_compatible_ones_do_not();
  test_new_shares_wait_behind_an_upgrade();
  test_bad_arguments();
  return report("share_lock");
}
