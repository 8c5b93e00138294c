# frozen_string_literal: true

# Solid Queue (Rails 8's default backend) as apps run it: its supervisor
# forks a worker and a dispatcher (what `bin/jobs` starts), jobs in SQLite
# (PostgreSQL on Active Record 8: Debian 13's sqlite3 gem is too old for it),
# Holdfast wired by its Railtie alone. Each story checks the job finished
# exactly once from its cursor, and what Solid Queue's own tables say
# afterwards: no failed or claimed execution left behind, the job's one row
# finished (or, after TERM, every row of it finished).
#
#   ruby test/backends/solid_queue_test.rb    (Ruby >= 3.2, Rails >= 7.1)
require_relative "harness"
require "active_record/version"

class SolidQueueBackendTest < Minitest::Test
  include BackendHarness
  ON_POSTGRES = ActiveRecord.version >= Gem::Version.new("8.0")
  if ON_POSTGRES
    require_relative "postgres_database"
    include PostgresDatabase
  else
    require "sqlite3"

    # Rows of +sql+ ($1... binds) in the jobs database, as Arrays.
    def rows(sql, *binds)
      db = SQLite3::Database.new(env["DATABASE_PATH"], readonly: true)
      db.busy_timeout = 10_000
      db.execute(sql, binds)
    ensure
      db&.close
    end
  end

  def adapter = "solid_queue"

  # Solid Queue's supervisor (its worker has @worker_threads threads).
  def supervisor(name)
    ruby_process("solid_queue", name: name)
  end

  def env
    super.merge("WORKER_THREADS" => (@worker_threads || 2).to_s)
  end

  def test_its_worker_sigkilled_mid_step_the_failed_claim_is_retried_and_resumes_from_the_cursor
    enqueue_job
    first = supervisor("supervisor")
    wait_until("the worker to process 100 items") { items.size >= 100 }
    victim = processing_pid
    killed_at = signal_mid_step(victim, "KILL")
    resumed_by = wait_finished("in the supervisor's next worker")
    refute_equal victim, resumed_by
    assert_resumed(victim, resumed_by, redone: 1)
    stop(first, "TERM")
    assert_backend_clean(copies: 1)
    report("SIGKILL worker", seconds_to_resume(resumed_by, killed_at))
  end

  def test_the_whole_process_tree_sigkilled_the_dead_claim_is_released_not_left_for_pruning
    enqueue_job
    first = supervisor("first")
    wait_until("the worker to process 100 items") { items.size >= 100 }
    victim = processing_pid
    killed_at = signal_mid_step(-first.pid, "KILL")
    wait_exit(first, 10)
    second = supervisor("second")
    resumed_by = wait_finished("under the second supervisor")
    assert_resumed(victim, resumed_by, redone: 1)
    stop(second, "TERM")
    # The dead processes' rows stay until Solid Queue prunes them; nothing
    # of theirs is left for the pruning to fail.
    assert_backend_clean(copies: 1)
    report("SIGKILL tree", seconds_to_resume(resumed_by, killed_at))
  end

  def test_term_mid_step_stops_at_a_checkpoint_within_a_kamal_stop_and_resumes
    enqueue_job
    first = supervisor("first")
    wait_until("the worker to process 100 items") { items.size >= 100 }
    victim = processing_pid
    term_at = signal_mid_step(first, "TERM")
    # Within a 10 s container stop (Solid Queue's shutdown_timeout is 5 s).
    assert_stopped_at_a_checkpoint(victim, term_at, wait_exit(first, 10), [0, nil])
    second = supervisor("second")
    resumed_by = wait_finished("under the second supervisor")
    assert_resumed(victim, resumed_by, redone: 0)
    stop(second, "TERM")
    # Rails' continuation re-enqueues an interrupted job: a second row under
    # the same job id; both finished.
    assert_backend_clean(copies: 2)
    report("TERM", seconds_to_resume(resumed_by, term_at))
  end

  # The recovered job waits behind higher-priority work for several leases
  # once it is due again; it still runs once, and from its cursor.
  def test_a_recovered_job_waiting_behind_a_backlog_runs_once
    @delay = 0.04 # 12 s of work: the backlog is queued while it runs
    enqueue_job
    @worker_threads = 1
    first = supervisor("supervisor")
    wait_until("the worker to process 100 items") { items.size >= 100 }
    # Queued while the worker's one thread is busy; they run first once it
    # is replaced, and the job is due again (a lease later) behind them.
    filler_log = queue_backlog
    assert_empty done_lines, "the job was still running when the backlog was queued"
    victim = processing_pid
    Process.kill("KILL", victim)
    resumed_by = wait_finished("after the backlog", within: WAIT * 2)
    assert_resumed(victim, resumed_by, redone: 1)
    assert_waited_behind_the_backlog(filler_log, resumed_by)
    stop(first, "TERM")
    assert_backend_clean(copies: 1, fillers: 4)
  end

  # Solid Queue's rows for the job: +copies+ rows, every one finished, and no
  # failed, claimed, ready, scheduled or blocked execution anywhere.
  def assert_backend_clean(copies:, fillers: 0)
    jobs = rows("SELECT id, finished_at FROM solid_queue_jobs WHERE active_job_id = $1", @job_id)
    assert_equal copies, jobs.size, "Solid Queue rows for the job: #{jobs.inspect}"
    assert jobs.all? { |_, finished_at| finished_at }, "every row of the job finished: #{jobs.inspect}"
    assert_equal copies + fillers, Integer(rows("SELECT COUNT(*) FROM solid_queue_jobs")[0][0])
    %w[failed claimed ready scheduled blocked].each do |kind|
      left = rows("SELECT * FROM solid_queue_#{kind}_executions")
      assert_empty left, "no #{kind} execution left in Solid Queue"
    end
  end
end
