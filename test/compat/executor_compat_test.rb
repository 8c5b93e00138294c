# frozen_string_literal: true

# What ActiveSupport::Executor does differently from one Rails to the next
# (read from each version's activesupport/lib/active_support/
# execution_wrapper.rb), checked against plain Active Support (the control
# run, which proves each expectation is that version's real behaviour),
# against Holdfast::Executor (drop-in), and against Active Support backed by
# Holdfast. Holdfast gives Rails 8.1's API on every version, so where an
# older Rails does less, the Holdfast runs expect 8.1's behaviour.
#
# Run by test/external/run_rails_suite.rb compat, in every lane of bin/matrix.
require_relative "abstract_unit"
require_relative "compat_helper"

class ExecutorCompatTest < ActiveSupport::TestCase
  include CompatHelper

  class DummyError < RuntimeError; end
  class NotStandard < Exception; end # rubocop:disable Lint/InheritException

  def other_executor
    @other_executor ||= Class.new(ActiveSupport::Executor)
  end

  # [error, handled, source (or :none when the reporter takes none)] per report.
  def reports_of(*executors)
    reports = []
    subscriber = Object.new
    subscriber.define_singleton_method(:report) do |error, handled:, source: :none, **|
      reports << [error, handled, source]
    end
    reporters = executors.map(&:error_reporter).uniq
    reporters.each { |reporter| reporter.subscribe(subscriber) }
    yield
    reports
  ensure
    reporters&.each { |reporter| reporter.unsubscribe(subscriber) if reporter.respond_to?(:unsubscribe) }
  end

  def reporting?
    HOLDFAST || at_least?("7.0")
  end

  test "wrap reports an error raised in its block once, as unhandled, and re-raises it (7.0+; Holdfast everywhere)" do
    skip "Active Support #{VERSION}'s wrap reports nothing" unless reporting?
    error = DummyError.new("boom")
    reports = reports_of(executor) { assert_raises(DummyError) { executor.wrap { raise error } } }
    assert_equal [error], reports.map(&:first)
    assert_equal false, reports.first[1]
  end

  test "wrap(source:) hands the source to the reporter (7.1+; Holdfast wherever the reporter takes one)" do
    skip "Active Support #{VERSION}'s wrap takes no source" unless at_least?("7.1") || (HOLDFAST && !at_least?("7.0"))
    reports = reports_of(executor) { assert_raises(DummyError) { executor.wrap(source: "job.runner") { raise DummyError } } }
    assert_equal ["job.runner"], reports.map(&:last)
    reports = reports_of(executor) { assert_raises(DummyError) { executor.wrap { raise DummyError } } }
    assert_equal ["application.active_support"], reports.map(&:last)
  end

  test "Active Support 7.0's reporter takes no source: Holdfast's wrap(source:) still works there" do
    skip "only Active Support 7.0 has a reporter without source:" unless HOLDFAST && VERSION.segments.first(2) == [7, 0]
    reports = reports_of(executor) { assert_raises(DummyError) { executor.wrap(source: "job.runner") { raise DummyError } } }
    assert_equal [:none], reports.map(&:last)
  end

  test "wrap reports an exception that is not a StandardError (7.2.3+; Holdfast everywhere)" do
    skip "Active Support #{VERSION}'s wrap rescues StandardError only" unless HOLDFAST || at_least?("7.2.3")
    error = NotStandard.new("not standard")
    reports = reports_of(executor) { assert_raises(NotStandard) { executor.wrap { raise error } } }
    assert_equal [error], reports.map(&:first)
    assert_not executor.active?
  end

  test "nested wraps of two executor classes report an error once (7.1+ dedupes; 7.0 reports it to each class)" do
    skip "Active Support #{VERSION}'s wrap reports nothing" unless reporting?
    reports = reports_of(executor, other_executor) do
      assert_raises(DummyError) { executor.wrap { other_executor.wrap { raise DummyError } } }
    end
    assert_equal(!HOLDFAST && !at_least?("7.1") ? 2 : 1, reports.size)
  end

  test "on 7.0 each executor class has its own reporter until Rails sets ActiveSupport.error_reporter" do
    skip "only 7.0 has a reporter per executor class" unless VERSION.segments.first(2) == [7, 0]
    assert_kind_of ActiveSupport::ErrorReporter, executor.error_reporter
    assert_same executor.error_reporter, executor.error_reporter
    assert_not_same executor.error_reporter, other_executor.error_reporter
  end

  test "from 7.1 every executor reports to ActiveSupport.error_reporter (Rails.error)" do
    skip "ActiveSupport.error_reporter is set from 7.1" unless at_least?("7.1")
    assert_same ActiveSupport.error_reporter, executor.error_reporter
  end

  test "perform runs the callbacks around its block without making the executor active (7.0+; Holdfast everywhere)" do
    skip "Active Support #{VERSION} has no ExecutionWrapper.perform" unless HOLDFAST || at_least?("7.0")
    log = []
    executor.to_run { log << :run }
    executor.to_complete { log << :complete }
    # Not active: Active Support says nil before any run on this thread and
    # false after one; both are "not active".
    result = executor.perform { log << [:body, executor.active? ? true : false]; :value }
    assert_equal :value, result
    assert_equal [:run, [:body, false], :complete], log
  end

  test "run!(reset: true) completes an execution that was lost, then runs a new one" do
    log = []
    executor.to_run { log << :run }
    executor.to_complete { log << :complete }
    lost = executor.run!
    fresh = executor.run!(reset: true)
    assert_not_same lost, fresh
    assert_equal %i[run complete run], log
    fresh.complete!
    assert_not executor.active?
  end

  test "with isolation_level :fiber an execution is active in its own fiber only (7.0+)" do
    skip "this Active Support keeps no per-fiber state" unless defined?(ActiveSupport::IsolatedExecutionState)
    previous = ActiveSupport::IsolatedExecutionState.isolation_level
    ActiveSupport::IsolatedExecutionState.isolation_level = :fiber
    seen = executor.wrap { [executor.active?, Fiber.new { executor.active? }.resume] }
    assert_equal [true, false], seen.map { |active| active ? true : false }
  ensure
    ActiveSupport::IsolatedExecutionState.isolation_level = previous if previous
  end
end
