/* Wrap work in a Holdfast executor from C: callbacks around each piece of
 * work, a hook that carries state from run to complete, and a failure that
 * is reported once while the complete callbacks still run.
 *
 *   cargo build -p holdfast-capi
 *   gcc -std=c11 -Iinclude examples/c/wrap.c -Ltarget/debug -lholdfast_capi \
 *       -Wl,-rpath,$PWD/target/debug -o /tmp/wrap && /tmp/wrap
 */
#include <holdfast.h>

#include <stdio.h>
#include <stdlib.h>

static int open_connection(void *userdata, uint64_t context, void **state_out) {
  int *next_id = userdata;
  int *connection = malloc(sizeof *connection);
  if (!connection) return 1;
  *connection = ++*next_id;
  printf("  [context %llu] check out connection #%d\n", (unsigned long long)context, *connection);
  *state_out = connection;
  return 0;
}

static int close_connection(void *userdata, uint64_t context, void *state) {
  (void)userdata;
  int *connection = state;
  printf("  [context %llu] return connection #%d\n", (unsigned long long)context, *connection);
  free(connection);
  return 0;
}

static int say(void *userdata, uint64_t context) {
  printf("  [context %llu] %s\n", (unsigned long long)context, (const char *)userdata);
  return 0;
}

static int import_rows(void *userdata) {
  printf("  working: %s\n", (const char *)userdata);
  return 0;
}

static int broken_work(void *userdata) {
  (void)userdata;
  printf("  working: this one fails\n");
  return 3;
}

static void report(void *userdata, const char *source, int code, const char *message) {
  (void)userdata;
  printf("  reported from %s: code %d (%s)\n", source, code, message);
}

static int check(holdfast_status status, holdfast_status expected) {
  if (status == expected) return 0;
  char message[256];
  holdfast_last_error_message(message, sizeof message);
  fprintf(stderr, "unexpected %s: %s\n", holdfast_status_name(status), message);
  return 1;
}

int main(void) {
  holdfast_executor *executor = NULL;
  int next_id = 0, bad = 0;
  bad |= check(holdfast_executor_new(&executor), HOLDFAST_OK);
  bad |= check(holdfast_executor_to_run(executor, say, "run callback", 0), HOLDFAST_OK);
  bad |= check(holdfast_executor_to_complete(executor, say, "complete callback", 0), HOLDFAST_OK);
  bad |= check(holdfast_executor_register_hook(executor, open_connection, close_connection, &next_id, false),
               HOLDFAST_OK);
  bad |= check(holdfast_executor_set_error_reporter(executor, report, NULL), HOLDFAST_OK);

  printf("wrap on context 1:\n");
  bad |= check(holdfast_executor_wrap(executor, 1, NULL, import_rows, "rows 1-100"), HOLDFAST_OK);
  printf("wrap on context 2, failing:\n");
  bad |= check(holdfast_executor_wrap(executor, 2, "example.import", broken_work, NULL), HOLDFAST_WORK_FAILED);

  bad |= check(holdfast_executor_free(executor), HOLDFAST_OK);
  printf(bad ? "example failed\n" : "done\n");
  return bad;
}
