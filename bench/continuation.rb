# frozen_string_literal: true

# The cost of step.advance! (a checkpoint) in one process, by where progress
# goes: nowhere but the payload (Rails' behaviour: store = false), the memory
# store, and SQLite under interval(100) (write-behind). Target: SQLite
# interval(100) at most 2x the memory store. Run: rake bench
require "tmpdir"
require "holdfast"
require "holdfast/continuable"

ActiveJob::Base.logger = Logger.new(nil)
ADVANCES = Integer(ENV.fetch("ADVANCES", "200000"))

class AdvanceJob < ActiveJob::Base
  include Holdfast::Continuable

  def perform(count)
    step :loop, start: 0 do |step|
      step.advance! while step.cursor < count
    end
  end
end

def per_advance(store)
  Holdfast.configure { |c| c.store = store }
  AdvanceJob.perform_now(1_000) # warm up
  best = Array.new(3) do
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    AdvanceJob.perform_now(ADVANCES)
    (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) / ADVANCES
  end.min
  Holdfast.continuation_store&.close
  best * 1e9
end

Dir.mktmpdir do |dir|
  payload = per_advance(false)
  memory = per_advance(Holdfast::Store.memory)
  sqlite = per_advance(Holdfast::Store.sqlite(File.join(dir, "bench.sqlite3"), durability: { interval: 100 }))
  puts format("%-40s %10s %10s", "step.advance! (#{ADVANCES} per run, best of 3)", "ns each", "vs memory")
  puts format("%-40s %10.0f %9.2fx", "payload only (store = false)", payload, payload / memory)
  puts format("%-40s %10.0f %9.2fx", "memory store", memory, 1.0)
  puts format("%-40s %10.0f %9.2fx  (target <= 2x)", "SQLite, durability interval(100)", sqlite, sqlite / memory)
  puts "(#{RUBY_DESCRIPTION})"
end
