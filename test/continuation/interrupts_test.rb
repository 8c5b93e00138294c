# frozen_string_literal: true

require_relative "helper"
require "active_record"

class LoopJob < ActiveJob::Base
  include Holdfast::Continuable
  cattr_accessor :on_cursor, default: ->(_cursor) {}

  def perform
    step :loop, start: 0 do |step|
      while step.cursor < 5
        on_cursor.call(step.cursor)
        step.advance!
      end
    end
  end
end

# A queue adapter that says it is stopping, as Sidekiq or Solid Queue do.
class StoppingAdapter < ActiveJob::QueueAdapters::TestAdapter
  attr_accessor :stopping_with_job

  def stopping?(job)
    stopping_with_job&.call(job)
  end
end

class InterruptsTest < ContinuationTestCase
  teardown do
    LoopJob.on_cursor = ->(_cursor) {}
    LoopJob.max_runtime = nil
    LoopJob.__holdfast_interrupt_ifs = [].freeze
    LoopJob.queue_adapter = :test
  end

  def interruption
    events = capture_events(:interrupt) { LoopJob.perform_now }
    events.map { |e| [e.payload[:reason], e.payload[:current_step]&.cursor] }
  end

  test "Holdfast.stop! interrupts at the next checkpoint with reason :stopping" do
    LoopJob.on_cursor = ->(cursor) { Holdfast.stop! if cursor == 2 }
    assert_equal [[:stopping, 3]], interruption
  end

  test "max_runtime interrupts with :max_runtime once the execution ran that long" do
    LoopJob.max_runtime = 1
    LoopJob.on_cursor = ->(cursor) { sleep 1.1 if cursor == 2 }
    assert_equal [[:max_runtime, 3]], interruption
  end

  test "interrupt_if: true means :stopping, any other truthy value is the reason" do
    LoopJob.interrupt_if { |job| cursor_of(job) == 4 && :maintenance }
    assert_equal [[:maintenance, 4]], interruption
    LoopJob.__holdfast_interrupt_ifs = [].freeze
    LoopJob.interrupt_if { |job| cursor_of(job) == 2 }
    assert_equal [[:stopping, 2]], interruption
    assert_raises(ArgumentError) { LoopJob.interrupt_if }
  end

  test "trap_signals! makes a signal stop jobs and still calls the handler that was there" do
    previous_calls = Queue.new
    old = Signal.trap("USR2") { previous_calls << :previous }
    Holdfast.trap_signals!("USR2")
    chained = nil
    LoopJob.on_cursor = lambda do |cursor|
      next unless cursor == 1

      Process.kill("USR2", Process.pid)
      # The handler chain calls stop! first, then the previous handler.
      chained = Timeout.timeout(5) { previous_calls.pop }
    end
    reasons = interruption
    assert_equal :stopping, reasons.first&.first
    assert_equal :previous, chained
  ensure
    Signal.trap("USR2", old || "DEFAULT")
  end

  test "a checkpoint inside an open Active Record transaction raises CheckpointError" do
    connect_active_record
    error = assert_raises(Holdfast::Continuation::CheckpointError) { TransactionJob.perform_now }
    assert_equal "Cannot checkpoint job with open transactions", error.message
  ensure
    disconnect_active_record
  end
end

class TransactionJob < ActiveJob::Base
  include Holdfast::Continuable

  def perform
    step :write, start: 0 do |step|
      ActiveRecord::Base.transaction do
        ActiveRecord::Base.connection.execute("SELECT 1")
        step.advance!
      end
    end
  end
end

class AdapterStoppingTest < ContinuationTestCase
  def queue_adapter_for_test
    StoppingAdapter.new
  end

  test "the queue adapter's stopping?(job) interrupts, before Holdfast's own sources" do
    skip "Rails 8.1 asks adapters stopping? without the job (the next test)" if RAILS_CONTINUATIONS
    queue_adapter.stopping_with_job = ->(job) { cursor_of(job) == 1 }
    events = capture_events(:interrupt) { LoopJob.perform_now }
    assert_equal [[:stopping, 1]], events.map { |e| [e.payload[:reason], e.payload[:current_step].cursor] }
  end
end

# An adapter that gives a reason, as Rails 8.2 lets stopping?(job) do; it
# takes the job or not, so Rails 8.1 (which passes none) can ask it too.
class ReasonAdapter < ActiveJob::QueueAdapters::TestAdapter
  attr_accessor :reason

  def stopping?(_job = nil)
    reason
  end
end

class AdapterReasonTest < ContinuationTestCase
  def queue_adapter_for_test
    ReasonAdapter.new
  end

  # Rails 8.2's wording, offered on every version: true means :stopping,
  # any other truthy answer is the reason itself, in the event and the log.
  test "a reason from the adapter's stopping? reaches the interrupt event and the log line" do
    LoopJob.on_cursor = ->(cursor) { queue_adapter.reason = :maintenance if cursor == 2 }
    events = capture_events(:interrupt) { LoopJob.perform_now }
    assert_equal [[:maintenance, 3]], events.map { |e| [e.payload[:reason], e.payload[:current_step].cursor] }
    assert(log_lines.any? { |line| line.include?("(maintenance)") }, log_lines.join("\n"))
  ensure
    LoopJob.on_cursor = ->(_cursor) {}
  end
end

# An adapter whose stopping? takes no job (as Sidekiq's does).
class PlainStoppingAdapter < ActiveJob::QueueAdapters::TestAdapter
  attr_accessor :stop

  def stopping?
    stop
  end
end

class PlainAdapterStoppingTest < ContinuationTestCase
  def queue_adapter_for_test
    PlainStoppingAdapter.new
  end

  test "an adapter's stopping? without the job argument is asked too" do
    if ActiveJob.gem_version >= Gem::Version.new("8.2.0.alpha")
      skip "Rails 8.2 itself calls stopping?(job): an adapter there takes the job (AbstractAdapter#stopping?(job = nil))"
    end
    LoopJob.on_cursor = ->(cursor) { queue_adapter.stop = true if cursor == 3 }
    events = capture_events(:interrupt) { LoopJob.perform_now }
    assert_equal [[:stopping, 4]], events.map { |e| [e.payload[:reason], e.payload[:current_step].cursor] }
  ensure
    LoopJob.on_cursor = ->(_cursor) {}
  end
end
