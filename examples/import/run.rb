# frozen_string_literal: true

# bin/demo's story: start the import in a child process, SIGKILL it mid-step,
# start it again, and check that every row was processed, none skipped.
require "open3"
require_relative "app"

def child(command)
  Open3.popen2e(RbConfig.ruby, "-I#{File.expand_path("../../lib", __dir__)}", __FILE__, command)
end

case ARGV.first
when "perform"
  ImportDemo.connect
  job = ImportDemo::ImportJob.new(ImportDemo::Import.first.id)
  job.job_id = ImportDemo::JOB_ID
  job.perform_now
  puts "done"
  exit
end

rows = ImportDemo::ROWS
puts "Holdfast demo: an import job over #{rows} rows (validate, process with a cursor, isolated finalize)"
puts "   Active Job #{ActiveJob.gem_version}: the job includes #{ImportDemo::CONTINUABLE}; progress in #{ImportDemo::DIR}/continuations.sqlite3"
import = ImportDemo.create
kill_after = rand((rows * 0.2).to_i..(rows * 0.8).to_i)

stdin, out, first = child("perform")
stdin.close
seen = 0
out.each_line do |line|
  seen = Integer(line.split.last) if line.start_with?("progress ")
  break if seen >= kill_after
end
Process.kill("KILL", first.pid)
first.value
out.close
store = Holdfast::Store.sqlite(File.join(ImportDemo::DIR, "continuations.sqlite3"))
record = store.get(ImportDemo::JOB_ID)
cursor_at_kill = record&.dig("current", 1)&.then { |text| Holdfast::Continuation::Cursor.load(text) }
done_at_kill = ImportDemo::Row.where("processed_count > 0").count
puts "1. first run: SIGKILLed mid-step after ~#{done_at_kill} rows " \
     "(completed: #{record["completed"].join(", ")}; durable cursor: row #{cursor_at_kill})"
store.close

stdin, out, second = child("perform")
stdin.close
lines = out.each_line.map(&:chomp).reject { |line| line.start_with?("progress ") }
status = second.value
lines.each { |line| puts "   #{line}" unless line == "done" }
puts "2. second run: #{status.success? && lines.include?("done") ? "finished" : "FAILED (#{status})"}"

import.reload
reprocessed = ImportDemo::Row.where("processed_count > 1").count
skipped = ImportDemo::Row.where(processed_count: 0).count
puts "3. result: #{import.processed} of #{rows} rows processed; re-processed after the kill: #{reprocessed} " \
     "(at most 100 ms of work under durability interval:100); skipped: #{skipped}"
ok = status.success? && skipped.zero? && import.processed == rows && import.finalized_at
puts ok ? "OK: every row processed, none skipped" : "FAILED: the import is incomplete"
exit(ok ? 0 : 1)
