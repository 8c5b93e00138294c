/* The executor through the C ABI: compiled with -std=c11 -Wall -Wextra
 * -Werror against include/holdfast.h, run plain and with sanitizers. */
#define _POSIX_C_SOURCE 200809L
#include <holdfast.h>

#include "check.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>


#define CHECK_STATUS(call, expected) CHECK((call) == (expected))

/* An event log the callbacks append to. */
static char log_buf[512];
static void log_event(const char *event) {
  if (log_buf[0]) strncat(log_buf, " ", sizeof log_buf - strlen(log_buf) - 1);
  strncat(log_buf, event, sizeof log_buf - strlen(log_buf) - 1);
}
static void log_reset(void) { log_buf[0] = '\0'; }

static int record(void *userdata, uint64_t context) {
  (void)context;
  log_event((const char *)userdata);
  return 0;
}
static int fail_with_7(void *userdata, uint64_t context) {
  (void)context;
  log_event((const char *)userdata);
  return 7;
}
static int work(void *userdata) {
  log_event(userdata ? (const char *)userdata : "work");
  return 0;
}
static int failing_work(void *userdata) {
  (void)userdata;
  log_event("work");
  return 42;
}

static int hook_run(void *userdata, uint64_t context, void **state_out) {
  (void)context;
  char event[32];
  snprintf(event, sizeof event, "run_%s", (const char *)userdata);
  log_event(event);
  *state_out = userdata; /* the state is the hook's own name */
  return 0;
}
static int hook_complete(void *userdata, uint64_t context, void *state) {
  (void)context;
  char event[48];
  snprintf(event, sizeof event, "complete_%s(%s)", (const char *)userdata, (const char *)state);
  log_event(event);
  return 0;
}

static holdfast_executor *new_executor(void) {
  holdfast_executor *e = NULL;
  CHECK_STATUS(holdfast_executor_new(&e), HOLDFAST_OK);
  return e;
}

static void test_wrap_runs_callbacks_around_work(void) {
  holdfast_executor *e = new_executor();
  log_reset();
  CHECK_STATUS(holdfast_executor_to_run(e, record, "run1", 0), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_to_run(e, record, "after", HOLDFAST_CALLBACK_AFTER), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_to_run(e, record, "first", HOLDFAST_CALLBACK_PREPEND), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_to_complete(e, record, "complete", 0), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_wrap(e, 1, NULL, work, NULL), HOLDFAST_OK);
  CHECK(strcmp(log_buf, "first run1 after work complete") == 0);
  bool active = true;
  CHECK_STATUS(holdfast_executor_is_active(e, 1, &active), HOLDFAST_OK);
  CHECK(!active);
  CHECK_STATUS(holdfast_executor_free(e), HOLDFAST_OK);
}

static void test_hooks_carry_state_and_outer_hooks_wrap_everything(void) {
  holdfast_executor *e = new_executor();
  log_reset();
  CHECK_STATUS(holdfast_executor_register_hook(e, hook_run, hook_complete, "a", false), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_register_hook(e, hook_run, hook_complete, "b", false), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_register_hook(e, hook_run, hook_complete, "c", true), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_wrap(e, 1, NULL, work, NULL), HOLDFAST_OK);
  CHECK(strcmp(log_buf, "run_c run_a run_b work complete_a(a) complete_b(b) complete_c(c)") == 0);
  holdfast_executor_free(e);
}

static void test_failing_run_callback(void) {
  holdfast_executor *e = new_executor();
  log_reset();
  CHECK_STATUS(holdfast_executor_register_hook(e, hook_run, hook_complete, "early", false), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_to_run(e, fail_with_7, "boom", 0), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_register_hook(e, hook_run, hook_complete, "late", false), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_to_complete(e, record, "complete", 0), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_wrap(e, 5, NULL, work, NULL), HOLDFAST_CALLBACK_FAILED);
  /* The work and the late hook never ran; the early hook and the ordinary
   * complete callback still completed. */
  CHECK(strcmp(log_buf, "run_early boom complete_early(early) complete") == 0);
  char message[256];
  size_t full = holdfast_last_error_message(message, sizeof message);
  CHECK(full > 0 && strstr(message, "returned 7") != NULL);
  CHECK(strstr(message, "holdfast_executor_wrap") != NULL);
  bool active = true;
  CHECK_STATUS(holdfast_executor_is_active(e, 5, &active), HOLDFAST_OK);
  CHECK(!active);
  holdfast_executor_free(e);
}

static holdfast_executor *nested_executor;
static int nested_work(void *userdata) {
  (void)userdata;
  log_event("outer-work");
  /* Re-entrant: only the inner work runs. */
  return (int)holdfast_executor_wrap(nested_executor, 9, NULL, work, "inner-work");
}

static void test_run_while_active_and_reentrant_wrap(void) {
  holdfast_executor *e = nested_executor = new_executor();
  log_reset();
  CHECK_STATUS(holdfast_executor_to_run(e, record, "run", 0), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_to_complete(e, record, "complete", 0), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_wrap(e, 9, NULL, nested_work, NULL), HOLDFAST_OK);
  CHECK(strcmp(log_buf, "run outer-work inner-work complete") == 0);

  log_reset();
  holdfast_execution *outer = NULL, *inner = NULL;
  CHECK_STATUS(holdfast_executor_run(e, 9, false, &outer), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_run(e, 9, false, &inner), HOLDFAST_OK);
  CHECK_STATUS(holdfast_execution_complete(inner), HOLDFAST_OK); /* null execution: no-op */
  bool active = false;
  CHECK_STATUS(holdfast_executor_is_active(e, 9, &active), HOLDFAST_OK);
  CHECK(active);
  CHECK_STATUS(holdfast_execution_complete(outer), HOLDFAST_OK);
  CHECK_STATUS(holdfast_execution_complete(outer), HOLDFAST_ALREADY_COMPLETED);
  CHECK(strcmp(log_buf, "run complete") == 0);
  holdfast_execution_free(inner);
  holdfast_execution_free(outer);
  holdfast_executor_free(e);
}

static void test_reset_completes_the_lost_execution(void) {
  holdfast_executor *e = new_executor();
  log_reset();
  CHECK_STATUS(holdfast_executor_to_complete(e, record, "complete", 0), HOLDFAST_OK);
  holdfast_execution *lost = NULL, *fresh = NULL;
  CHECK_STATUS(holdfast_executor_run(e, 3, false, &lost), HOLDFAST_OK);
  holdfast_execution_free(lost); /* lost without completing */
  CHECK_STATUS(holdfast_executor_run(e, 3, true, &fresh), HOLDFAST_OK);
  CHECK(strcmp(log_buf, "complete") == 0);
  CHECK_STATUS(holdfast_execution_complete(fresh), HOLDFAST_OK);
  CHECK(strcmp(log_buf, "complete complete") == 0);
  holdfast_execution_free(fresh);
  holdfast_executor_free(e);
}

static int reports;
static char reported[128];
static void reporter(void *userdata, const char *source, int code, const char *message) {
  (void)userdata;
  reports++;
  snprintf(reported, sizeof reported, "%s %d %s", source, code, message);
}

static void test_failing_work_is_reported_once_and_completes(void) {
  holdfast_executor *e = new_executor();
  log_reset();
  reports = 0;
  CHECK_STATUS(holdfast_executor_set_error_reporter(e, reporter, NULL), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_to_complete(e, record, "complete", 0), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_wrap(e, 1, "my.job", failing_work, NULL), HOLDFAST_WORK_FAILED);
  CHECK(reports == 1);
  CHECK(strncmp(reported, "my.job 42 ", 10) == 0);
  CHECK(strcmp(log_buf, "work complete") == 0);
  holdfast_executor_free(e);
}

static void test_subclass_receives_parent_callbacks(void) {
  holdfast_executor *parent = new_executor(), *child = NULL;
  log_reset();
  CHECK_STATUS(holdfast_executor_to_run(parent, record, "early", 0), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_subclass(parent, &child), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_to_run(parent, record, "late", 0), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_to_run(child, record, "child", 0), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_wrap(child, 1, NULL, work, NULL), HOLDFAST_OK);
  CHECK(strcmp(log_buf, "early late child work") == 0);
  log_reset();
  CHECK_STATUS(holdfast_executor_wrap(parent, 1, NULL, work, NULL), HOLDFAST_OK);
  CHECK(strcmp(log_buf, "early late work") == 0);
  holdfast_executor_free(child);
  holdfast_executor_free(parent);
}

static void test_bad_handles_and_arguments(void) {
  holdfast_executor *e = new_executor();
  holdfast_execution *x = NULL;
  bool active;
  CHECK_STATUS(holdfast_executor_new(NULL), HOLDFAST_NULL_ARGUMENT);
  CHECK_STATUS(holdfast_executor_wrap(NULL, 1, NULL, work, NULL), HOLDFAST_NULL_ARGUMENT);
  CHECK_STATUS(holdfast_executor_wrap(e, 1, NULL, NULL, NULL), HOLDFAST_NULL_ARGUMENT);
  CHECK_STATUS(holdfast_executor_to_run(e, NULL, NULL, 0), HOLDFAST_NULL_ARGUMENT);
  CHECK_STATUS(holdfast_executor_to_run(e, record, "x", 0x80), HOLDFAST_INVALID_ARGUMENT);
  CHECK_STATUS(holdfast_executor_is_active(e, 1, NULL), HOLDFAST_NULL_ARGUMENT);
  CHECK_STATUS(holdfast_executor_free(NULL), HOLDFAST_OK);
  CHECK_STATUS(holdfast_execution_free(NULL), HOLDFAST_OK);

  /* A handle of the wrong type. */
  CHECK_STATUS(holdfast_executor_run(e, 1, false, &x), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_is_active((holdfast_executor *)x, 1, &active), HOLDFAST_INVALID_HANDLE);
  CHECK_STATUS(holdfast_executor_free((holdfast_executor *)x), HOLDFAST_INVALID_HANDLE);
  CHECK_STATUS(holdfast_execution_complete(x), HOLDFAST_OK);
  CHECK_STATUS(holdfast_execution_free(x), HOLDFAST_OK);
  CHECK_STATUS(holdfast_execution_complete(x), HOLDFAST_INVALID_HANDLE); /* freed */

  /* A freed handle is reported, never dereferenced. */
  CHECK_STATUS(holdfast_executor_free(e), HOLDFAST_OK);
  CHECK_STATUS(holdfast_executor_wrap(e, 1, NULL, work, NULL), HOLDFAST_INVALID_HANDLE);
  CHECK_STATUS(holdfast_executor_free(e), HOLDFAST_INVALID_HANDLE);
  char message[200];
  holdfast_last_error_message(message, sizeof message);
  CHECK(strstr(message, "not a live holdfast_executor") != NULL);

  /* Truncation: the full length comes back, the buffer stays terminated. */
  char tiny[8];
  size_t full = holdfast_last_error_message(tiny, sizeof tiny);
  CHECK(full > sizeof tiny && strlen(tiny) == sizeof tiny - 1);
  CHECK(holdfast_last_error_message(NULL, 0) == full);
  CHECK(strcmp(holdfast_status_name(HOLDFAST_WORK_FAILED), "HOLDFAST_WORK_FAILED") == 0);
  CHECK(strcmp(holdfast_status_name(999), "HOLDFAST_UNKNOWN_STATUS") == 0);
}

/* Two threads inside wraps of one executor at once, on their own contexts. */
static holdfast_executor *shared;
static pthread_barrier_t inside, release;
static int thread_work(void *userdata) {
  (void)userdata;
  pthread_barrier_wait(&inside);
  pthread_barrier_wait(&release);
  return 0;
}
static void *thread_main(void *arg) {
  uint64_t context = (uint64_t)(uintptr_t)arg;
  return (void *)(uintptr_t)holdfast_executor_wrap(shared, context, NULL, thread_work, NULL);
}

static void test_contexts_on_threads_are_independent(void) {
  shared = new_executor();
  pthread_barrier_init(&inside, NULL, 3);
  pthread_barrier_init(&release, NULL, 3);
  pthread_t a, b;
  pthread_create(&a, NULL, thread_main, (void *)(uintptr_t)100);
  pthread_create(&b, NULL, thread_main, (void *)(uintptr_t)200);
  pthread_barrier_wait(&inside);
  bool active_a = false, active_b = false, active_main = true;
  holdfast_executor_is_active(shared, 100, &active_a);
  holdfast_executor_is_active(shared, 200, &active_b);
  holdfast_executor_is_active(shared, 300, &active_main);
  CHECK(active_a && active_b && !active_main);
  pthread_barrier_wait(&release);
  void *ra, *rb;
  pthread_join(a, &ra);
  pthread_join(b, &rb);
  CHECK((uintptr_t)ra == HOLDFAST_OK && (uintptr_t)rb == HOLDFAST_OK);
  holdfast_executor_is_active(shared, 100, &active_a);
  CHECK(!active_a);
  pthread_barrier_destroy(&inside);
  pthread_barrier_destroy(&release);
  holdfast_executor_free(shared);
}

int main(void) {
  test_wrap_runs_callbacks_around_work();
  test_hooks_carry_state_and_outer_hooks_wrap_everything();
  test_failing_run_callback();
  test_run_while_active_and_reentrant_wrap();
  test_reset_completes_the_lost_execution();
  test_failing_work_is_reported_once_and_completes();
  test_subclass_receives_parent_callbacks();
  test_bad_handles_and_arguments();
  test_contexts_on_threads_are_independent();
  return report("executor");
}
