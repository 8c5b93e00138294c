# frozen_string_literal: true

# What the harness's processes share: one clock, the outcome log the
# workers write outside the store, and the run's directory layout.
module Chaos
  module_function

  # CLOCK_MONOTONIC: one per host, the same in every process, and left
  # alone by the skewed workers' faketime (FAKETIME_DONT_FAKE_MONOTONIC).
  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # One line per event, appended with one write(2) so a SIGKILL loses no
  # line already written and lines of different processes never mix:
  # "<kind> <job id> <token> <value> <time>".
  class Outcome
    def initialize(path)
      @file = File.open(path, File::WRONLY | File::APPEND | File::CREAT)
      @file.sync = true
    end

    def call(kind, job_id, token, value = "-", at = Chaos.now)
      @file.write("#{kind} #{job_id} #{token} #{value} #{format("%.6f", at)}\n")
    end
  end

  # The run's store as every process opens it: HOLDFAST_STORE_URL, and for
  # PostgreSQL the run's own table (CHAOS_TABLE); CHAOS_DURABILITY,
  # HOLDFAST_LEASE.
  def open_store(**extra)
    durability = ENV.fetch("CHAOS_DURABILITY", "every_checkpoint")
    durability = durability.start_with?("interval:") ? { interval: Integer(durability.split(":").last) } : durability.to_sym
    options = { durability: durability, lease: Float(ENV.fetch("HOLDFAST_LEASE")),
                recovery_timeout: Float(ENV.fetch("CHAOS_RECOVERY_TIMEOUT")), max_recoveries: 3, **extra }
    url = ENV.fetch("HOLDFAST_STORE_URL")
    table = ENV["CHAOS_TABLE"]
    table ? Holdfast::Store.postgres(url, table: table, **options) : Holdfast::Store.from_url(url, **options)
  end

  # Every outcome line of a run's workers, oldest first.
  def read_outcomes(dir)
    Dir[File.join(dir, "outcome-*.log")].flat_map do |path|
      File.foreach(path).filter_map do |line|
        kind, job_id, token, value, at = line.split
        next unless at # a line cut short cannot happen with one write; skip it if it does

        { kind: kind, job_id: job_id, token: token == "-" ? nil : Integer(token), value: value, at: Float(at),
          file: File.basename(path) }
      end
    end.sort_by { |event| event[:at] }
  end
end
