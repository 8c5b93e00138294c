# frozen_string_literal: true

# Holdfast's executor: application code on many threads, each piece of work
# inside the executor, with the callbacks a Rails app would register.
require "holdfast"

$stdout.sync = true
AppExecutor = Class.new(Holdfast::Executor)

# What Active Record registers: a connection for each execution, handed back
# after it. The hook's run result comes back to its complete.
class ConnectionHook
  def initialize = (@next = 0; @mutex = Mutex.new)
  def run = @mutex.synchronize { "conn##{@next += 1}" }
  def complete(connection) = puts("    #{Thread.current.name}: returned #{connection}")
end

AppExecutor.register_hook(ConnectionHook.new)
AppExecutor.to_run { @started = Process.clock_gettime(Process::CLOCK_MONOTONIC) }
AppExecutor.to_complete do
  ms = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - @started) * 1000
  puts format("    %s: execution done in %.2f ms", Thread.current.name, ms)
end

reporter = Object.new
def reporter.report(error, handled:, source:, **) = puts("    reported #{error.class}: #{error.message} (handled: #{handled}, source: #{source})")
Holdfast.error_reporter.subscribe(reporter)

puts "1. A wrapped thread: its whole body runs inside the executor"
thread = AppExecutor.thread do
  Thread.current.name = "worker"
  puts "    worker: inside an execution? #{AppExecutor.active?}"
  AppExecutor.wrap { puts "    worker: nested wrap just runs (no second checkout)" }
end
thread.join

puts "\n2. A pool of 2 threads; each task is its own execution"
pool = AppExecutor.pool(2, name: "pool")
futures = (1..4).map { |n| pool.future(n) { |i| i * i } }
puts "    squares: #{futures.map(&:value).inspect}"

puts "\n3. A failing task is reported once, and its execution still completes"
failed = pool.future { raise ArgumentError, "bad row 17" }
begin
  failed.value
rescue ArgumentError => e
  puts "    future.value re-raised: #{e.message}"
end
pool.post { raise KeyError, "missing column" }
pool.shutdown
pool.wait_for_termination(10) or abort "pool did not stop"

puts "\n4. Outside any execution now? #{!AppExecutor.active?}"
