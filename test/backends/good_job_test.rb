# frozen_string_literal: true

# GoodJob as apps run it: `good_job start` (its CLI, one process with a
# thread pool) and async mode (jobs in the app's own processes), jobs in
# PostgreSQL (a database of its own per test on the
# server bin/test starts), Holdfast wired by its Railtie alone. GoodJob
# brings a SIGKILLed job back by itself (its advisory lock went with the
# dead session): Holdfast must adopt that execution, not add a copy (an
# enqueue under the same id cannot even be inserted). Each story checks the
# job finished exactly once from its cursor and GoodJob's own row: one row,
# finished, no error left on it.
#
#   ruby test/backends/good_job_test.rb    (HOLDFAST_TEST_POSTGRES_URL)
require_relative "harness"
require_relative "postgres_database"
require "securerandom"

class GoodJobBackendTest < Minitest::Test
  include BackendHarness
  include PostgresDatabase

  def adapter = "good_job"

  def setup
    super
    @job_id = SecureRandom.uuid # GoodJob's rows are keyed by UUIDs
    FileUtils.mkdir_p(File.join(@dir, "config"))
    File.write(File.join(@dir, "config", "environment.rb"), "require #{APP.inspect}\n")
  end

  def env
    super.merge("WORKER_THREADS" => (@worker_threads || 2).to_s,
                "GOOD_JOB_EXECUTION_MODE" => @execution_mode || "external")
  end

  def good_job(name)
    ruby_process("good_job", name: name)
  end

  # An app process (a web server's, say) running GoodJob in async mode,
  # wired as GoodJob's README wires Puma: the capsule shut down at exit.
  # (Only that process: an enqueuer in async mode would run the job.)
  def good_job_async(name)
    @execution_mode = "async_all"
    ruby_process("good_job_async", name: name)
  ensure
    @execution_mode = nil
  end

  # The SIGKILL and TERM stories, on `good_job start` and in async mode:
  # +start+ starts one process of that kind; +label+ prefixes the report.
  def sigkill_story(label, where, &start)
    enqueue_job # first: it creates GoodJob's tables, which a process booting beside it would race
    first = start.call("first")
    killed_at = signal_mid_step(first, "KILL")
    wait_exit(first, 10)
    second = start.call("second")
    wait_finished(where)
    stop(second, "TERM")
    assert_resumed(first, second, redone: 1)
    assert_empty recovery_errors(second), "Holdfast's recovery raised nothing"
    assert_backend_clean
    report("#{label}SIGKILL", seconds_to_resume(second, killed_at))
  end

  def term_story(label, where, &start)
    enqueue_job
    first = start.call("first")
    term_at = signal_mid_step(first, "TERM")
    assert_stopped_at_a_checkpoint(first, term_at, wait_exit(first, 10), [0, nil])
    second = start.call("second")
    wait_finished(where)
    stop(second, "TERM")
    assert_resumed(first, second, redone: 0)
    assert_backend_clean
    report("#{label}TERM", seconds_to_resume(second, term_at))
  end

  def test_sigkilled_mid_step_goodjob_runs_it_again_and_holdfast_adds_no_copy
    sigkill_story("", "in the second worker") { |name| good_job(name) }
  end

  def test_term_mid_step_stops_at_a_checkpoint_within_a_kamal_stop_and_resumes
    term_story("", "in the second worker") { |name| good_job(name) }
  end

  # Async mode: the app process that ran the job is SIGKILLed; the next
  # app process's capsule runs the unfinished row, resuming at the cursor.
  def test_async_mode_an_app_process_sigkilled_mid_step_the_next_one_resumes_the_job
    sigkill_story("async ", "in the next app process") { |name| good_job_async(name) }
  end

  # Async mode, a deploy's TERM: the capsule's shutdown at exit stops the
  # job at its next checkpoint, and the next app process resumes it.
  def test_async_mode_term_stops_the_job_at_a_checkpoint_and_the_next_app_process_resumes_it
    term_story("async ", "in the next app process") { |name| good_job_async(name) }
  end

  # No worker runs while the lease runs out, then the next one has a
  # backlog of higher-priority work: Holdfast's sweeper and GoodJob both see
  # the job; it runs once, after the backlog, from its cursor.
  def test_a_killed_job_behind_a_backlog_when_the_next_worker_starts_runs_once
    enqueue_job
    first = good_job("first")
    signal_mid_step(first, "KILL")
    wait_exit(first, 10)
    filler_log = queue_backlog
    sleep LEASE + INTERVAL # the lease runs out before any worker is back
    @worker_threads = 1
    second = good_job("second")
    wait_finished("after the backlog", within: WAIT * 2)
    stop(second, "TERM")
    assert_resumed(first, second, redone: 1)
    assert_waited_behind_the_backlog(filler_log, second.pid)
    assert_empty recovery_errors(second), "Holdfast's recovery raised nothing"
    assert_backend_clean(fillers: 4)
  end

  # A forking server shuts GoodJob down in its master and restarts it in
  # each worker: the restarted capsule's jobs must not inherit the stop.
  def test_a_capsule_restarted_after_its_shutdown_runs_jobs_again
    enqueue_job # creates the tables
    check = ruby_process("good_job_restart", name: "restart")
    assert wait_exit(check, WAIT).success?, outputs
    output = File.read(check.output)
    assert_includes output, "after shutdown: stopping=true recovery=false"
    assert_includes output, "after restart: stopping=false recovery=true"
  end

  def recovery_errors(worker)
    File.readlines(worker.output).grep(/could not re-enqueue|RecordNotUnique/)
  end

  # GoodJob's rows: the job's one row finished without an error, and
  # nothing else unfinished.
  def assert_backend_clean(fillers: 0)
    job = rows("SELECT finished_at, error FROM good_jobs WHERE active_job_id = $1", @job_id)
    assert_equal 1, job.size, "GoodJob rows for the job: #{job.inspect}"
    refute_nil job.first[0], "GoodJob's row finished: #{job.inspect}"
    assert_nil job.first[1], "no error left on GoodJob's row: #{job.inspect}"
    assert_equal [[(1 + fillers).to_s]], rows("SELECT COUNT(*) FROM good_jobs")
    assert_equal [["0"]], rows("SELECT COUNT(*) FROM good_jobs WHERE finished_at IS NULL")
  end
end
