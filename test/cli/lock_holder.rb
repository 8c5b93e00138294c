# frozen_string_literal: true

# A process with a busy share lock for `holdfast locks PID`: one thread
# holds it exclusively, another waits to share it. Prints "ready PID".
require "holdfast"

Holdfast.serve_lock_snapshots!
lock = Holdfast::ShareLock.new
held = Queue.new
Thread.new { lock.exclusive { held << true; sleep } }
held.pop
Thread.new { lock.start_sharing }
sleep 0.01 until lock.snapshot.any? { |entry| entry["sleeper"] }
puts "ready #{Process.pid}"
$stdout.flush
sleep
