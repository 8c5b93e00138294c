# frozen_string_literal: true

# bin/demo's story: a worker process performs the import and is SIGKILLed
# mid-step; a second worker, told nothing about the job, finds it orphaned
# once the dead worker's lease runs out, re-enqueues it under its job id and
# resumes it from its durable cursor. Then every row is checked: processed,
# none skipped.
require "open3"
require_relative "app"

def worker(*args)
  Open3.popen2e(RbConfig.ruby, "-I#{File.expand_path("../../lib", __dir__)}", __FILE__, "worker", *args)
end

def monotonic
  Process.clock_gettime(Process::CLOCK_MONOTONIC)
end

# A worker: jobs run on Active Job's :async adapter inside it, and
# Holdfast's recovery sweeper runs in it, as the Railtie starts both in a
# Rails app's job processes. "enqueue" also enqueues the import.
if ARGV.first == "worker"
  ImportDemo.connect
  Holdfast.start_recovery!(interval: 0.5)
  if ARGV[1] == "enqueue"
    job = ImportDemo::ImportJob.new(ImportDemo::Import.first.id)
    job.job_id = ImportDemo::JOB_ID
    job.enqueue
  end
  deadline = monotonic + 600
  sleep 0.1 until ImportDemo::Import.first.finalized_at || monotonic > deadline
  ActiveJob::Base.queue_adapter.shutdown(wait: true)
  puts(ImportDemo::Import.first.finalized_at ? "done" : "timed out")
  exit
end

rows = ImportDemo::ROWS
puts "Holdfast demo: an import job over #{rows} rows (validate, process with a cursor, isolated finalize)"
puts "   Active Job #{ActiveJob.gem_version}: the job includes #{ImportDemo::CONTINUABLE}; progress in #{ImportDemo::DIR}/continuations.sqlite3"
import = ImportDemo.create
kill_after = rand((rows * 0.2).to_i..(rows * 0.8).to_i)

stdin, out, first = worker("enqueue")
stdin.close
seen = 0
out.each_line do |line|
  seen = Integer(line.split.last) if line.start_with?("progress ")
  break if seen >= kill_after
end
Process.kill("KILL", first.pid)
killed_at = monotonic
first.value
out.close
store = Holdfast::Store.sqlite(File.join(ImportDemo::DIR, "continuations.sqlite3"))
record = store.get(ImportDemo::JOB_ID)
cursor_at_kill = record&.dig("current", 1)&.then { |text| Holdfast::Continuation::Cursor.load(text) }
done_at_kill = ImportDemo::Row.where("processed_count > 0").count
puts "1. worker 1 (pid #{first.pid}): SIGKILLed mid-step after ~#{done_at_kill} rows " \
     "(completed: #{record["completed"].join(", ")}; durable cursor: row #{cursor_at_kill}; " \
     "lease held by #{record["lease_owner"]})"
store.close

puts "2. worker 2 starts, told nothing about the job: its recovery finds the orphan when the lease runs out (3 s here)"
stdin, out, second = worker
stdin.close
resumed_after = nil
lines = []
out.each_line do |line|
  line = line.chomp
  next if line.start_with?("progress ")

  resumed_after ||= monotonic - killed_at if line.start_with?("resuming ")
  lines << line
end
status = second.value
lines.each { |line| puts "   #{line}" unless line == "done" }
puts "   resumed #{resumed_after ? format("%.1f s", resumed_after) : "never"} after the SIGKILL, by itself"
puts "3. worker 2: #{status.success? && lines.include?("done") ? "finished the import" : "FAILED (#{status})"}"

import.reload
reprocessed = ImportDemo::Row.where("processed_count > 1").count
skipped = ImportDemo::Row.where(processed_count: 0).count
puts "4. result: #{import.processed} of #{rows} rows processed; re-processed after the kill: #{reprocessed} " \
     "(at most 100 ms of work under durability interval:100); skipped: #{skipped}"
ok = resumed_after && status.success? && skipped.zero? && import.processed == rows && import.finalized_at
puts ok ? "OK: every row processed, none skipped" : "FAILED: the import is incomplete"
exit(ok ? 0 : 1)
