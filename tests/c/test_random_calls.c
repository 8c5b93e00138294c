/* A randomized harness for the C ABI: many calls with arguments a careless
 * or hostile caller could pass (NULL, freed and wrong-type handles, random
 * integers as handles, enums and flags out of range, absurd timeouts,
 * lengths with NULL pointers, bytes that are not UTF-8 or hold NUL, values
 * past every size limit, buffers of every size). bin/c-tests runs it plain
 * and under AddressSanitizer + UndefinedBehaviorSanitizer.
 *
 * Every call must return a known status other than HOLDFAST_PANIC; every
 * failure must leave a message; no buffer may be written past its length;
 * JSON written must end at the reported length. The seed and the number of
 * calls come from HOLDFAST_FUZZ_SEED and HOLDFAST_FUZZ_CALLS; a failure
 * prints the seed and call number that reproduce it. */
#define _POSIX_C_SOURCE 200809L
#include <holdfast.h>

#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t state;
static uint64_t next(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}
static uint64_t below(uint64_t n) { return next() % n; }

static unsigned long call_number;
static uint64_t seed;

/* Handles by kind: live, freed (and kept, to be passed again), or made up. */
enum kind { STORE, STORE_EXECUTION, LOCK, EXECUTOR, KINDS };
#define POOL 8
static void *pool[KINDS][POOL];
static size_t pool_used[KINDS];

/* Every handle ever made, so the end can free what is still live. */
static void *made[1 << 17];
static size_t made_count;

static void track(void *handle, enum kind kind) {
  if (handle == NULL) return;
  if (made_count < sizeof made / sizeof *made) made[made_count++] = handle;
  if (pool_used[kind] < POOL) {
    pool[kind][pool_used[kind]++] = handle;
  } else {
    pool[kind][below(POOL)] = handle;
  }
}

/* Mostly a handle of the kind wanted; sometimes NULL, another kind's, or
 * an integer that was never a handle. */
static void *handle_of(enum kind kind) {
  switch (below(12)) {
  case 0: return NULL;
  case 1: return (void *)(uintptr_t)next();
  case 2: return (void *)(uintptr_t)below(64);
  case 3: {
    enum kind other = (enum kind)below(KINDS);
    return pool_used[other] ? pool[other][below(pool_used[other])] : NULL;
  }
  default: return pool_used[kind] ? pool[kind][below(pool_used[kind])] : NULL;
  }
}

/* Byte strings a caller might pass, with their lengths. */
static uint8_t big[70000];
static const uint8_t *bytes(size_t *len) {
  static const char *const samples[] = {"job-1", "job-2", "ImportJob", "step", "[42]", "",
                                        "\xff\xfe not utf-8", "caf\xc3\xa9", "a\0b"};
  switch (below(16)) {
  case 0: *len = below(2) ? 0 : 1 + below(100); return NULL; /* NULL, with and without a length */
  case 1: *len = 255 + below(3); return big;                /* around the id and step limits */
  case 2: *len = 65535 + below(3); return big;              /* around the cursor limit */
  case 3: *len = below(300); return big;
  case 4: case 5: *len = 5; return (const uint8_t *)"job-1";
  case 6: *len = 4; return (const uint8_t *)"step";
  default: {
    const char *s = samples[below(sizeof samples / sizeof *samples)];
    *len = strcmp(s, "a") == 0 ? 3 : strlen(s);
    return (const uint8_t *)s;
  }
  }
}

static const char *c_string(void) {
  static const char *const samples[] = {"ImportJob", "", "\xff not utf-8", "load", "unload", "holdfast_continuations",
                                        "x\"; DROP TABLE holdfast_continuations; --"};
  return below(5) == 0 ? NULL : samples[below(sizeof samples / sizeof *samples)];
}

static int64_t timeout_ms(void) {
  static const int64_t samples[] = {0, 1, 2, INT64_MAX, 315360000001LL, INT64_MIN + 1};
  int64_t t = samples[below(sizeof samples / sizeof *samples)];
  return t < 0 ? 0 : t; /* negative waits forever: one thread would hang on itself */
}

static uint32_t small_or_wild(uint32_t limit) { return below(4) ? (uint32_t)below(limit) : (uint32_t)next(); }

/* Output buffers with a canary after the length the callee is told. */
#define CANARY 0xA5
static uint8_t out[1 << 17];
static size_t out_len_arg(void) {
  static const size_t samples[] = {0, 1, 7, 64, 4096, 1 << 16};
  return samples[below(sizeof samples / sizeof *samples)];
}

static unsigned long by_status[32];
static unsigned long checkpoints_written;

static void check_status(holdfast_status status, const char *call) {
  by_status[status < 32 ? status : 31]++;
  if (status == HOLDFAST_OK && strcmp(call, "holdfast_store_execution_checkpoint") == 0) checkpoints_written++;
  int known = strcmp(holdfast_status_name(status), "HOLDFAST_UNKNOWN_STATUS") != 0;
  if (!known || status == HOLDFAST_PANIC) {
    fprintf(stderr, "seed %llu call %lu: %s returned %s (%u)\n", (unsigned long long)seed, call_number, call,
            holdfast_status_name(status), (unsigned)status);
  }
  CHECK(known && status != HOLDFAST_PANIC);
  if (status != HOLDFAST_OK && status != HOLDFAST_BUFFER_TOO_SMALL) {
    char message[512];
    size_t length = holdfast_last_error_message(message, sizeof message);
    if (length == 0) fprintf(stderr, "seed %llu call %lu: %s failed without a message\n", (unsigned long long)seed, call_number, call);
    CHECK(length > 0);
  }
}

/* `text` output ends in a NUL within the buffer; bytes (a cursor) may fill
 * it exactly. */
static void check_output(holdfast_status status, size_t len, size_t out_len, int text) {
  int ok = out[len] == CANARY; /* nothing past the length given */
  if (status == HOLDFAST_OK && len > 0) {
    ok = ok && (text ? out_len < len && out[out_len] == '\0' : out_len <= len);
  }
  if (status == HOLDFAST_BUFFER_TOO_SMALL) ok = ok && out_len + (text ? 1 : 0) > len;
  if (!ok) {
    fprintf(stderr, "seed %llu call %lu: output of %zu bytes (status %s) in a buffer of %zu\n",
            (unsigned long long)seed, call_number, out_len, holdfast_status_name(status), len);
  }
  CHECK(ok);
}

static int work(void *userdata) { return (int)(uintptr_t)userdata; }
static int callback(void *userdata, uint64_t context) {
  (void)context;
  return (int)(uintptr_t)userdata;
}

static void one_call(void) {
  size_t a_len, b_len, len = out_len_arg(), out_len = 0;
  const uint8_t *a = bytes(&a_len), *b = bytes(&b_len);
  memset(out, CANARY, len + 1);
  holdfast_status status;
  void *made_handle = NULL;
  enum kind made_kind = STORE;
  switch (below(24)) {
  case 0: {
    holdfast_store_options options = {0};
    options.durability = small_or_wild(4);
    options.interval_ms = below(3) ? below(50) : next();
    options.max_cursor_bytes = below(3) ? 0 : (size_t)next() % (1u << 26);
    options.sqlite_busy_timeout_ms = below(3) ? below(10) : next();
    options.retention_ms = (int64_t)next();
    status = holdfast_store_open_memory(below(4) ? &options : NULL, (holdfast_store **)(below(8) ? &made_handle : NULL));
    check_status(status, "holdfast_store_open_memory");
    break;
  }
  case 1: {
    holdfast_store_execution *e = NULL;
    if (below(2)) {
      status = holdfast_store_begin(handle_of(STORE), a, a_len, b, b_len, below(10) ? &e : NULL);
      check_status(status, "holdfast_store_begin");
    } else {
      size_t p_len;
      const uint8_t *p = bytes(&p_len);
      status = holdfast_store_begin_with_payload(handle_of(STORE), a, a_len, b, b_len, p, p_len, below(10) ? &e : NULL);
      check_status(status, "holdfast_store_begin_with_payload");
    }
    made_handle = e;
    made_kind = STORE_EXECUTION;
    break;
  }
  case 2: case 3: case 4:
    status = holdfast_store_execution_checkpoint(handle_of(STORE_EXECUTION), a, a_len, b, b_len, below(2));
    check_status(status, "holdfast_store_execution_checkpoint");
    break;
  case 5:
    check_status(holdfast_store_execution_complete_step(handle_of(STORE_EXECUTION)), "holdfast_store_execution_complete_step");
    break;
  case 6:
    check_status(holdfast_store_execution_interrupt(handle_of(STORE_EXECUTION)), "holdfast_store_execution_interrupt");
    break;
  case 7:
    if (below(2))
      check_status(holdfast_store_execution_complete(handle_of(STORE_EXECUTION)), "holdfast_store_execution_complete");
    else
      check_status(holdfast_store_execution_release(handle_of(STORE_EXECUTION), below(2)), "holdfast_store_execution_release");
    break;
  case 8: {
    holdfast_store_execution_info info;
    check_status(holdfast_store_execution_get_info(handle_of(STORE_EXECUTION), below(8) ? &info : NULL),
                 "holdfast_store_execution_get_info");
    break;
  }
  case 9:
    status = holdfast_store_execution_cursor(handle_of(STORE_EXECUTION), len ? out : NULL, len, &out_len);
    check_status(status, "holdfast_store_execution_cursor");
    check_output(status, len, out_len, 0);
    break;
  case 10:
    status = holdfast_store_execution_completed_step(handle_of(STORE_EXECUTION), below(3), len ? (char *)out : NULL, len, &out_len);
    check_status(status, "holdfast_store_execution_completed_step");
    check_output(status, len, out_len, 1);
    break;
  case 11:
    status = holdfast_store_get_json(handle_of(STORE), a, a_len, len ? (char *)out : NULL, len, &out_len);
    check_status(status, "holdfast_store_get_json");
    check_output(status, len, out_len, 1);
    break;
  case 12:
    if (below(2)) {
      status = holdfast_store_list_json(handle_of(STORE), small_or_wild(3), c_string(), below(5), below(2),
                                        len ? (char *)out : NULL, len, &out_len);
      check_status(status, "holdfast_store_list_json");
    } else {
      status = holdfast_store_claim_orphans_json(handle_of(STORE), below(5), len ? (char *)out : NULL, len, &out_len);
      check_status(status, "holdfast_store_claim_orphans_json");
    }
    check_output(status, len, out_len, 1);
    break;
  case 13: {
    uint64_t deleted;
    bool existed;
    if (below(2))
      check_status(holdfast_store_prune(handle_of(STORE), (int64_t)next(), below(2) ? &deleted : NULL), "holdfast_store_prune");
    else if (below(2))
      check_status(holdfast_store_discard(handle_of(STORE), a, a_len, below(2) ? &existed : NULL), "holdfast_store_discard");
    else if (below(2))
      check_status(holdfast_store_handed_off(handle_of(STORE), a, a_len, next()), "holdfast_store_handed_off");
    else
      check_status(holdfast_store_hand_back(handle_of(STORE), a, a_len, next(), next()), "holdfast_store_hand_back");
    break;
  }
  case 14:
    check_status(holdfast_store_flush(handle_of(STORE)), "holdfast_store_flush");
    break;
  case 15: {
    /* Closing and freeing: rarer, so handles live long enough to be used. */
    switch (below(4)) {
    case 0: check_status(holdfast_store_free(handle_of(STORE)), "holdfast_store_free"); break;
    case 1: check_status(holdfast_store_close(handle_of(STORE)), "holdfast_store_close"); break;
    case 2: check_status(holdfast_store_execution_free(handle_of(STORE_EXECUTION)), "holdfast_store_execution_free"); break;
    default: check_status(holdfast_share_lock_free(handle_of(LOCK)), "holdfast_share_lock_free");
    }
    break;
  }
  case 16: {
    holdfast_share_lock *lock = NULL;
    check_status(holdfast_share_lock_new(c_string(), below(8) ? &lock : NULL), "holdfast_share_lock_new");
    made_handle = lock;
    made_kind = LOCK;
    break;
  }
  case 17: {
    uint32_t shares;
    check_status(holdfast_share_lock_start_sharing(handle_of(LOCK), below(3), timeout_ms(), below(2) ? &shares : NULL),
                 "holdfast_share_lock_start_sharing");
    break;
  }
  case 18: {
    uint32_t left;
    check_status(holdfast_share_lock_stop_sharing(handle_of(LOCK), below(3), below(2) ? &left : NULL),
                 "holdfast_share_lock_stop_sharing");
    break;
  }
  case 19: {
    const char *compatible[3] = {c_string(), c_string(), c_string()};
    bool acquired;
    size_t count = below(4);
    check_status(holdfast_share_lock_start_exclusive(handle_of(LOCK), below(3), c_string(), count ? compatible : NULL,
                                                     count, below(2), timeout_ms(), below(2) ? &acquired : NULL),
                 "holdfast_share_lock_start_exclusive");
    break;
  }
  case 20: {
    const char *compatible[2] = {c_string(), c_string()};
    size_t count = below(3);
    check_status(holdfast_share_lock_stop_exclusive(handle_of(LOCK), below(3), count ? compatible : NULL, count),
                 "holdfast_share_lock_stop_exclusive");
    break;
  }
  case 21:
    status = holdfast_share_lock_snapshot_json(handle_of(LOCK), len ? (char *)out : NULL, len, &out_len);
    check_status(status, "holdfast_share_lock_snapshot_json");
    check_output(status, len, out_len, 1);
    break;
  case 22: {
    holdfast_executor *executor = NULL;
    if (below(2)) {
      check_status(holdfast_executor_new(below(8) ? &executor : NULL), "holdfast_executor_new");
    } else {
      check_status(holdfast_executor_subclass(handle_of(EXECUTOR), &executor), "holdfast_executor_subclass");
    }
    made_handle = executor;
    made_kind = EXECUTOR;
    break;
  }
  default: {
    void *executor = handle_of(EXECUTOR);
    switch (below(4)) {
    case 0:
      check_status(holdfast_executor_to_run(executor, below(4) ? callback : NULL, (void *)(uintptr_t)below(2),
                                            small_or_wild(3)),
                   "holdfast_executor_to_run");
      break;
    case 1:
      check_status(holdfast_executor_wrap(executor, below(3), c_string(), below(6) ? work : NULL,
                                          (void *)(uintptr_t)below(2)),
                   "holdfast_executor_wrap");
      break;
    case 2: {
      bool active;
      check_status(holdfast_executor_is_active(executor, below(3), below(4) ? &active : NULL),
                   "holdfast_executor_is_active");
      break;
    }
    default:
      check_status(holdfast_executor_free(executor), "holdfast_executor_free");
    }
  }
  }
  track(made_handle, made_kind);
}

int main(void) {
  const char *seed_text = getenv("HOLDFAST_FUZZ_SEED");
  const char *calls_text = getenv("HOLDFAST_FUZZ_CALLS");
  seed = seed_text ? strtoull(seed_text, NULL, 10) : 0x5eedULL;
  unsigned long calls = calls_text ? strtoul(calls_text, NULL, 10) : 100000;
  state = seed ? seed : 1;
  memset(big, 'x', sizeof big);

  /* A few real handles to start from: stores on every durability. */
  for (uint32_t durability = 0; durability < 3; durability++) {
    holdfast_store_options options = {0};
    options.durability = durability;
    options.interval_ms = 5;
    holdfast_store *store = NULL;
    CHECK(holdfast_store_open_memory(&options, &store) == HOLDFAST_OK);
    track(store, STORE);
  }
  for (call_number = 0; call_number < calls; call_number++) one_call();

  /* Free everything still live, each kind with its own free (a handle of
   * another kind is refused, so trying each in turn frees it once). */
  for (size_t i = 0; i < made_count; i++) {
    holdfast_store_execution_free(made[i]);
    holdfast_store_free(made[i]);
    holdfast_share_lock_free(made[i]);
    holdfast_executor_free(made[i]);
  }
  printf("seed %llu, %lu calls; checkpoints written: %lu; statuses:", (unsigned long long)seed, calls,
         checkpoints_written);
  for (unsigned i = 0; i < 32; i++) {
    if (by_status[i]) printf(" %s %lu", holdfast_status_name(i), by_status[i]);
  }
  printf("\n");
  /* The harness must reach the paths that do work, not only the refusals. */
  CHECK(checkpoints_written > calls / 1000);
  CHECK(by_status[HOLDFAST_OK] > calls / 10);
  return report("test_random_calls");
}
