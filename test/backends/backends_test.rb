# frozen_string_literal: true

# A continuable job on real job backends, wired by the Railtie alone:
# Sidekiq with a real Redis, delayed_job on SQLite, and Active Job's :async
# adapter. For each: a worker SIGKILLed mid-step, with nothing done by hand,
# and the job resumes by itself from its durable cursor; a worker sent TERM
# mid-step stops at a checkpoint within a second and the job resumes; for
# Sidekiq and delayed_job, a recovered job waiting behind a backlog.
#
#   ruby test/backends/backends_test.rb    (HOLDFAST_BACKENDS=sidekiq,async to choose)
require_relative "harness"

# One Redis for the Sidekiq tests, on a Unix socket, stopped at exit.
module TestRedis
  module_function

  def url
    @url ||= start
  end

  def start
    dir = Dir.mktmpdir("holdfast-redis")
    socket = File.join(dir, "redis.sock")
    log = File.join(dir, "redis.log")
    pid = Process.spawn("redis-server", "--port", "0", "--unixsocket", socket, "--save", "", "--appendonly", "no",
                        out: log, err: %i[child out])
    Minitest.after_run do
      Process.kill("TERM", pid)
      Process.wait(pid)
      FileUtils.rm_rf(dir)
    end
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 30
    until File.exist?(log) && File.read(log).match?(/ready to accept connections/i)
      raise "redis-server did not start:\n#{File.read(log) if File.exist?(log)}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.05
    end
    "unix://#{socket}"
  end
end

# The SIGKILL and TERM stories, for every backend.
module BackendStories
  def test_a_worker_sigkilled_mid_step_comes_back_by_itself
    first = start_worker("first", with_job: true)
    killed_at = signal_mid_step(first, "KILL")
    wait_exit(first, 10)
    second = start_worker("second")
    wait_finished("in the second worker")
    stop(second, "TERM")
    check_backend_left_nothing
    assert_resumed(first, second, redone: 1)
    report("SIGKILL", seconds_to_resume(second, killed_at))
  end

  def test_a_worker_sent_term_mid_step_stops_within_a_second_and_the_job_resumes
    first = start_worker("first", with_job: true)
    term_at = signal_mid_step(first, "TERM")
    # Well before Sidekiq's 25 s shutdown timeout (its default, used here).
    assert_stopped_at_a_checkpoint(first, term_at, wait_exit(first, 10), [0, 128 + 15, nil])
    second = start_worker("second")
    wait_finished("in the second worker")
    stop(second, "TERM")
    check_backend_left_nothing
    assert_resumed(first, second, redone: 0)
    report("TERM", seconds_to_resume(second, term_at))
  end

  def check_backend_left_nothing; end
end

# A backlog, for the backends with a queue outside the process: the
# worker is SIGKILLed mid-step and work is queued ahead before the next
# worker (one thread) starts, so Holdfast's recovered copy waits behind
# it for several leases. Recovery must not enqueue it again meanwhile:
# it runs once, after the backlog, from its cursor.
module BacklogStory
  def test_a_recovered_job_waiting_behind_a_backlog_runs_once
    first = start_worker("first", with_job: true)
    signal_mid_step(first, "KILL")
    wait_exit(first, 10)
    filler_log = queue_backlog
    second = start_worker("second", threads: 1)
    wait_finished("after the backlog", within: BackendHarness::WAIT * 2)
    stop(second, "TERM")
    check_backend_left_nothing
    assert_resumed(first, second, redone: 1)
    assert_waited_behind_the_backlog(filler_log, second.pid)
    reenqueued = File.readlines(second.output).grep(/Holdfast: re-enqueued ImportJob/)
    assert_equal 1, reenqueued.size, "recovery enqueued one copy:\n#{reenqueued.join}"
  end
end

class SidekiqBackendTest < Minitest::Test
  include BackendHarness
  include BackendStories
  include BacklogStory

  def adapter = "sidekiq"

  def env
    super.merge("REDIS_URL" => TestRedis.url)
  end

  def start_worker(name, with_job: false, threads: 2)
    worker = start("sidekiq", "-r", APP, "-c", threads.to_s, "-q", "default", name: name)
    enqueue_job if with_job
    worker
  end
end

class DelayedJobBackendTest < Minitest::Test
  include BackendHarness
  include BackendStories
  include BacklogStory

  def adapter = "delayed_job"

  # One thread, whatever +threads+: a delayed_job worker runs one job at a time.
  def start_worker(name, with_job: false, **)
    enqueue_job if with_job
    ruby_process("delayed_job", name: name)
  end

  # The dead worker's row was unlocked and ran (not left to run again once
  # max_run_time passes); the interrupted run's row was deleted.
  def check_backend_left_nothing
    require "sqlite3"
    db = SQLite3::Database.new(env["DATABASE_PATH"])
    assert_equal [], db.execute("SELECT id, locked_by, attempts FROM delayed_jobs"), "no delayed_jobs row left"
  ensure
    db&.close
  end
end

class AsyncBackendTest < Minitest::Test
  include BackendHarness
  include BackendStories

  def adapter = "async"

  def start_worker(name, with_job: false)
    with_job ? ruby_process("async", *job_args, name: name) : ruby_process("async", name: name)
  end
end

chosen = ENV.fetch("HOLDFAST_BACKENDS", "sidekiq,delayed_job,async").split(",")
{ "sidekiq" => SidekiqBackendTest, "delayed_job" => DelayedJobBackendTest, "async" => AsyncBackendTest }
  .each { |key, klass| Minitest::Runnable.runnables.delete(klass) unless chosen.include?(key) }
