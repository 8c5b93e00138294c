# frozen_string_literal: true

require "minitest/autorun"
require "tmpdir"
require "rbconfig"
require "json"
$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
require "holdfast"
require_relative "vendor"

# Runs the job-backend tests' processes (process.rb, Sidekiq's executable)
# and reads what they did: the job's log ("item time_ms pid" per item,
# "done pid" at the end) and the store.
module BackendHarness
  APP = File.expand_path("app.rb", __dir__)
  PROCESS = File.expand_path("process.rb", __dir__)
  ITEMS = 300
  DELAY = 0.01
  LEASE = Float(ENV.fetch("HOLDFAST_BACKENDS_LEASE", "2"))
  INTERVAL = Float(ENV.fetch("HOLDFAST_BACKENDS_INTERVAL", "0.5"))
  # How long a worker may take to do what the test waits for (boot, a
  # lease running out, the job's few seconds of work).
  WAIT = 60

  Worker = Struct.new(:pid, :output)

  def setup
    @dir = Dir.mktmpdir("holdfast-backends")
    @log = File.join(@dir, "job.log")
    @store_path = File.join(@dir, "continuations.sqlite3")
    @job_id = "#{adapter}-#{name}-#{Process.pid}"
    @workers = []
  end

  def teardown
    @workers.each { |worker| stop(worker, "KILL") }
    FileUtils.rm_rf(@dir) if passed?
  end

  def env
    { "JOBS_ADAPTER" => adapter, "APP_ROOT" => @dir, "HOLDFAST_STORE_URL" => "sqlite:#{@store_path}",
      "HOLDFAST_LEASE" => LEASE.to_s, "HOLDFAST_RECOVERY_INTERVAL" => INTERVAL.to_s,
      "DATABASE_PATH" => File.join(@dir, "jobs.sqlite3"), "RAILS_ENV" => "production",
      "RUBYOPT" => BackendVendor.rubyopt(adapter) }
  end

  def job_args
    [@job_id, ITEMS.to_s, @log, (@delay || DELAY).to_s]
  end

  # Starts a process in its own process group, its output in a file.
  def start(*command, name:)
    output = File.join(@dir, "#{name}.out")
    pid = Process.spawn(env, *command, out: output, err: %i[child out], pgroup: true, chdir: @dir)
    Worker.new(pid, output).tap { |worker| @workers << worker }
  end

  def ruby_process(*args, name:)
    start(RbConfig.ruby, PROCESS, *args, name: name)
  end

  # ImportJob.perform_later from a process of its own, as an app would.
  def enqueue_job
    enqueuer = ruby_process("enqueue", *job_args, name: "enqueue")
    assert wait_exit(enqueuer, WAIT).success?, outputs
  end

  # Sends +signal+ and waits (bounded) for the worker to exit.
  def stop(worker, signal, within: WAIT)
    Process.kill(signal, worker.pid)
    wait_exit(worker, within)
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  end

  def wait_exit(worker, within)
    deadline = now + within
    until Process.wait(worker.pid, Process::WNOHANG)
      if now > deadline
        Process.kill("KILL", -worker.pid)
        Process.wait(worker.pid)
        flunk "#{File.basename(worker.output)} did not exit within #{within}s:\n#{File.read(worker.output)}"
      end
      sleep 0.05
    end
    @workers.delete(worker)
    $?
  end

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # Waits (bounded) until the block is true, while every worker lives; the
  # failure shows the workers' output.
  def wait_until(what, within: WAIT)
    deadline = now + within
    until yield
      flunk "#{what}: not within #{within}s\n#{outputs}" if now > deadline
      @workers.each do |worker|
        next unless Process.wait(worker.pid, Process::WNOHANG)

        @workers.delete(worker)
        flunk "#{what}: #{File.basename(worker.output)} exited (#{$?.inspect})\n#{outputs}"
      end
      sleep 0.02
    end
  end

  def outputs
    Dir[File.join(@dir, "*.out")].map { |f| "--- #{File.basename(f)}\n#{File.read(f).lines.last(40).join}" }.join
  end

  # [[item, time_ms, pid]] in the order processed.
  def items
    return [] unless File.exist?(@log)

    File.readlines(@log).reject { |line| line.start_with?("done") }.map { |line| line.split.map { |n| Integer(n) } }
  end

  def done_lines
    File.exist?(@log) ? File.readlines(@log).grep(/\Adone /) : []
  end

  def record
    store = Holdfast::Store.sqlite(@store_path)
    store.get(@job_id).tap { store.close }
  end

  def in_flight
    store = Holdfast::Store.sqlite(@store_path)
    store.list(state: :in_flight).tap { store.close }
  end

  def epoch_ms
    (Time.now.to_f * 1000).round
  end

  # What every run must show at the end: every item processed, none
  # skipped, the job finished exactly once, resumed by +second+ from where
  # +first+ stopped, at most +redone+ items processed twice, and nothing
  # left in flight in the store. +first+ and +second+: Workers, or the pids
  # that processed items (a forked worker of a supervisor).
  def assert_resumed(first, second, redone:)
    first = first.pid if first.is_a?(Worker)
    second = second.pid if second.is_a?(Worker)
    processed = items
    assert_equal (0...ITEMS).to_a, processed.map(&:first).uniq.sort, "nothing skipped\n#{outputs}"
    assert_operator processed.size - ITEMS, :<=, redone, "items processed twice: #{processed.size - ITEMS}"
    assert_equal ["done #{second}\n"], done_lines, "finished exactly once, by the second worker"
    by_first = processed.select { |_, _, pid| pid == first }.map(&:first)
    by_second = processed.select { |_, _, pid| pid == second }.map(&:first)
    refute_empty by_first
    assert_operator by_second.min, :>=, by_first.max + 1 - redone, "resumed from the cursor, not from the start"
    refute_nil record["completed_at"], "the record is completed"
    assert_empty in_flight, "nothing left in flight"
  end

  # Waits until 100 items are done, sends +signal+ to +target+ (a pid, a
  # Worker, or -pgid for a whole tree) and returns when, in epoch ms.
  def signal_mid_step(target, signal)
    wait_until("the worker to process 100 items") { items.size >= 100 }
    at = epoch_ms
    Process.kill(signal, target.is_a?(Worker) ? target.pid : target)
    at
  end

  # The pid the job's items come from now (a supervisor's forked worker).
  def processing_pid
    items.last[2]
  end

  # After TERM: the job stopped at a checkpoint within a second (its last
  # item by +pid+), did not run to its end, and the process exited in
  # order (+status+ one of +statuses+).
  def assert_stopped_at_a_checkpoint(pid, term_at, status, statuses)
    pid = pid.pid if pid.is_a?(Worker)
    last = items.select { |_, _, by| by == pid }.last
    assert_operator last[1] - term_at, :<=, 1000, "the job stopped at a checkpoint within a second of TERM"
    assert_empty done_lines, "the job did not run to its end after TERM"
    assert_includes statuses, status.exitstatus, "the worker exited in order: #{status.inspect}"
  end

  # Waits for the job to finish (within +within+ s); the pid that ran its
  # last items.
  def wait_finished(where, within: WAIT)
    wait_until("the job to finish #{where}", within: within) { done_lines.any? }
    items.last[2]
  end

  # Four FillerJobs of 0.75 lease each, queued ahead (priority -10) of
  # whatever comes next: the backlog a recovered job waits behind for
  # several leases. Returns the fillers' log.
  def queue_backlog
    filler_log = File.join(@dir, "fillers.log")
    fillers = ruby_process("fill", "4", (LEASE * 0.75).to_s, "-10", filler_log, name: "fill")
    assert wait_exit(fillers, WAIT).success?, outputs
    filler_log
  end

  # Every filler ran once, and the job resumed (by +resumed_by+) only
  # after the backlog.
  def assert_waited_behind_the_backlog(filler_log, resumed_by)
    assert_equal 4, File.readlines(filler_log).size, "every filler ran once"
    first_resumed = items.find { |_, _, pid| pid == resumed_by }[1]
    assert_operator first_resumed - File.mtime(filler_log).to_f * 1000, :>=, -50,
                    "the recovered job waited behind the backlog"
  end

  # Seconds from +at_ms+ to the first item the second worker processed.
  def seconds_to_resume(second, at_ms)
    second = second.pid if second.is_a?(Worker)
    first_item = items.find { |_, _, pid| pid == second }
    (first_item[1] - at_ms) / 1000.0
  end

  def report(what, seconds)
    line = format("%-12s %-8s %6.2f s (lease %gs, recovery every %gs)\n", adapter, what, seconds, LEASE, INTERVAL)
    File.write(ENV["HOLDFAST_BACKENDS_REPORT"], line, mode: "a") if ENV["HOLDFAST_BACKENDS_REPORT"]
    puts "\n#{line}"
  end
end
