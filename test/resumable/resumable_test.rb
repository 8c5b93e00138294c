# frozen_string_literal: true

# Holdfast.resumable on SQLite and PostgreSQL: steps and cursors resumed
# from the store with nothing repeated, every interrupt source, a finished
# key not run again unless asked, the step validation messages of
# Holdfast::Continuable, events, the executor, and two runs of one key (the
# later fences the earlier).
require "minitest/autorun"
require "tmpdir"
require "timeout"
$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
require "holdfast"
require "active_support/notifications"

module ResumableCases
  def setup
    @dir = Dir.mktmpdir("holdfast-resumable")
    @store = open_store
    @key = "backfill:#{name}:#{Process.pid}"
    @seen = []
  end

  def teardown
    Holdfast.resume!
    @store.close
    FileUtils.rm_rf(@dir)
  end

  # Counts 0...10 in :copy (stopping when +stop+ says so), then :verify.
  def backfill(**options, &stop)
    Holdfast.resumable(@key, store: @store, interrupt_if: stop && ->(_run) { stop.call(@seen) }, **options) do |run|
      run.step :copy, start: 0 do |step|
        while step.cursor < 10
          @seen << step.cursor
          step.advance!
        end
      end
      run.step(:verify) { @seen << :verify }
    end
  end

  def test_interrupted_work_resumes_from_the_store_with_nothing_repeated
    error = assert_raises(Holdfast::Resumable::Interrupted) { backfill { |seen| seen.size == 4 } }
    assert_equal "#{@key} was interrupted (stopping); run it again to resume from step 'copy' at cursor 4", error.message
    assert_equal [:stopping, :copy, 4], [error.reason, error.step, error.cursor]
    record = @store.get(@key)
    assert_equal [["copy", "[4]"], nil, nil], [record["current"], record["completed_at"], record["lease_owner"]]

    result = backfill
    assert_equal [:completed, 1], [result.status, result.resumptions]
    assert_equal [*0...10, :verify], @seen, "resumed at 4: nothing repeated, nothing skipped"
    refute_nil @store.get(@key)["completed_at"]
  end

  def test_a_finished_key_is_not_run_again_unless_asked
    backfill
    @seen.clear
    result = backfill
    assert_equal :already_completed, result.status
    assert_empty @seen, "a second run of a finished backfill must not redo it"
    assert_equal :completed, backfill(restart: true).status
    assert_equal [*0...10, :verify], @seen
  end

  def test_every_interrupt_source
    Holdfast.stop!
    assert_equal :stopping, assert_raises(Holdfast::Resumable::Interrupted) { backfill }.reason
    Holdfast.resume!
    assert_equal :max_runtime, assert_raises(Holdfast::Resumable::Interrupted) {
      Holdfast.resumable(@key, store: @store, max_runtime: 0.05) do |run|
        run.step(:copy, start: 0) { |step| loop { sleep 0.01; step.advance! } }
      end
    }.reason
    assert_equal :deploying, assert_raises(Holdfast::Resumable::Interrupted) { backfill { :deploying } }.reason
  end

  def test_step_validation_matches_continuable_jobs
    error = assert_raises(Holdfast::Continuation::InvalidStepError) do
      Holdfast.resumable(@key, store: @store) { |run| run.step("copy") { nil } }
    end
    assert_equal "Step 'copy' must be a Symbol, found 'String'", error.message
    error = assert_raises(Holdfast::Continuation::InvalidStepError) do
      Holdfast.resumable("#{@key}-2", store: @store) { |run| run.step(:a) { run.step(:b) { nil } } }
    end
    assert_equal "Step 'b' is nested inside step 'a'", error.message
    assert_raises(ArgumentError) { Holdfast.resumable("", store: @store) { nil } }
  end

  def test_events_name_the_work_and_it_runs_inside_the_executor
    events = []
    subscriber = ActiveSupport::Notifications.subscribe(/\.holdfast\z/) { |name, *, payload| events << [name, payload[:resumable]] }
    inside = nil
    Holdfast.resumable(@key, store: @store) { |run| run.step(:only) { inside = Holdfast::Executor.active? } }
    assert inside, "the block runs inside Holdfast::Executor when there is no Rails app"
    assert_includes events, ["step.holdfast", @key]
    assert_includes events, ["step_started.holdfast", @key]
  ensure
    ActiveSupport::Notifications.unsubscribe(subscriber)
  end

  def test_an_isolated_step_starts_with_everything_before_it_durable
    Holdfast.resumable(@key, store: @store) do |run|
      run.step(:copy, start: 0) { |step| step.advance! }
      run.step(:finalize, isolated: true) { @seen << @store.get(@key)["completed"] }
    end
    assert_equal [["copy"]], @seen
  end

  # The later run takes a newer fencing token: the earlier one's next
  # checkpoint raises StaleExecutionError and writes nothing.
  def test_two_runs_of_one_key_the_later_fences_the_earlier
    inside = Queue.new
    go_on = Queue.new
    earlier = Thread.new do
      Thread.current.report_on_exception = false
      Holdfast.resumable(@key, store: @store) do |run|
        run.step :copy, start: 0 do |step|
          step.advance!
          inside << true
          go_on.pop
          step.advance!
        end
      end
    end
    Timeout.timeout(10) { inside.pop }
    other = open_store
    later = Holdfast.resumable(@key, store: other) { |run| run.step(:copy, start: 0) { |step| step.set!(100) } }
    other.close
    assert_equal :completed, later.status
    go_on << true
    error = assert_raises(Holdfast::Continuation::StaleExecutionError) { Timeout.timeout(10) { earlier.value } }
    first = Integer(error.message[/execution (\d+) of job/, 1])
    assert_match(/execution #{first} of job "#{Regexp.escape(@key)}" is stale: execution #{first + 1} owns its progress now/,
                 error.message)
    assert_nil @store.get(@key)["current"], "the earlier run wrote nothing after the later one"
    refute_nil @store.get(@key)["completed_at"]
  end

  def test_a_thread_variant
    thread = Holdfast::Resumable.thread(@key, store: @store) { |run| run.step(:only) { :done } }
    assert_equal :completed, Timeout.timeout(10) { thread.value }.status
  end
end

class ResumableSQLiteTest < Minitest::Test
  include ResumableCases

  def open_store
    Holdfast::Store.sqlite(File.join(@dir, "store.sqlite3"))
  end
end

class ResumablePostgresTest < Minitest::Test
  include ResumableCases

  def open_store
    url = ENV.fetch("HOLDFAST_TEST_POSTGRES_URL") { flunk "HOLDFAST_TEST_POSTGRES_URL is not set (bin/test starts the server)" }
    Holdfast::Store.postgres(url)
  end
end
