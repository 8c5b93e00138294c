"""Wrap work in a Holdfast executor from Python through ctypes.

    cargo build -p holdfast-capi
    python3 examples/python/wrap.py [path/to/libholdfast_capi.so]
"""
import ctypes
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_LIB = os.path.join(HERE, "..", "..", "target", "debug", "libholdfast_capi.so")
lib = ctypes.CDLL(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_LIB)

HOLDFAST_OK, HOLDFAST_WORK_FAILED = 0, 5
CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint64)
HOOK_RUN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint64, ctypes.POINTER(ctypes.c_void_p))
HOOK_COMPLETE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_void_p)
WORK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
REPORTER = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p)

handle = ctypes.c_void_p  # handles are pointers: never let ctypes truncate them to int
lib.holdfast_executor_new.argtypes = [ctypes.POINTER(handle)]
lib.holdfast_executor_free.argtypes = [handle]
lib.holdfast_executor_to_run.argtypes = [handle, CALLBACK, ctypes.c_void_p, ctypes.c_uint32]
lib.holdfast_executor_to_complete.argtypes = [handle, CALLBACK, ctypes.c_void_p, ctypes.c_uint32]
lib.holdfast_executor_register_hook.argtypes = [handle, HOOK_RUN, HOOK_COMPLETE, ctypes.c_void_p, ctypes.c_bool]
lib.holdfast_executor_set_error_reporter.argtypes = [handle, REPORTER, ctypes.c_void_p]
lib.holdfast_executor_wrap.argtypes = [handle, ctypes.c_uint64, ctypes.c_char_p, WORK, ctypes.c_void_p]
lib.holdfast_last_error_message.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
lib.holdfast_last_error_message.restype = ctypes.c_size_t
for fn in ("new", "free", "to_run", "to_complete", "register_hook", "set_error_reporter", "wrap"):
    getattr(lib, "holdfast_executor_" + fn).restype = ctypes.c_uint32

events = []
states = {}


def check(status, expected=HOLDFAST_OK):
    if status != expected:
        buf = ctypes.create_string_buffer(512)
        lib.holdfast_last_error_message(buf, len(buf))
        raise RuntimeError(f"status {status}: {buf.value.decode()}")


@CALLBACK
def on_run(_userdata, context):
    events.append(f"run@{context}")
    return 0


@CALLBACK
def on_complete(_userdata, context):
    events.append(f"complete@{context}")
    return 0


@HOOK_RUN
def hook_run(_userdata, context, state_out):
    states[context] = f"state-for-{context}"
    state_out[0] = context  # any pointer-sized token; here the context id itself
    events.append(f"hook.run@{context}")
    return 0


@HOOK_COMPLETE
def hook_complete(_userdata, context, state):
    events.append(f"hook.complete@{context}({states.pop(state)})")
    return 0


@WORK
def work(_userdata):
    events.append("work")
    return 0


@WORK
def failing_work(_userdata):
    events.append("failing work")
    return 9


@REPORTER
def reporter(_userdata, source, code, message):
    events.append(f"reported {source.decode()} {code}")


executor = handle()
check(lib.holdfast_executor_new(ctypes.byref(executor)))
check(lib.holdfast_executor_to_run(executor, on_run, None, 0))
check(lib.holdfast_executor_to_complete(executor, on_complete, None, 0))
check(lib.holdfast_executor_register_hook(executor, hook_run, hook_complete, None, False))
check(lib.holdfast_executor_set_error_reporter(executor, reporter, None))

check(lib.holdfast_executor_wrap(executor, 1, None, work, None))
check(lib.holdfast_executor_wrap(executor, 2, b"python.example", failing_work, None), HOLDFAST_WORK_FAILED)
check(lib.holdfast_executor_free(executor))

for event in events:
    print(" ", event)
expected = [
    "run@1", "hook.run@1", "work", "complete@1", "hook.complete@1(state-for-1)",
    "run@2", "hook.run@2", "failing work", "reported python.example 9", "complete@2",
    "hook.complete@2(state-for-2)",
]
if events != expected:
    sys.exit(f"unexpected events: {events}")
print("python example: ok")
