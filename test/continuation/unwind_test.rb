# frozen_string_literal: true

require_relative "helper"

# A job whose worker thread is killed mid-step is not reported as performed
# or as having completed its step (issue 20, defect 3), while errors, throws
# and clean returns keep their own outcome.
class UnwindJob < ActiveJob::Base
  include Holdfast::Continuable
  cattr_accessor :in_step

  def perform
    step :work, start: 0 do |step|
      step.advance!
      in_step << :inside
      sleep # until killed
    end
  end
end

class UnwindTest < ContinuationTestCase
  UNWOUND = Holdfast::Continuation::UnwindReport::Unwound

  def events_of(*names, &block)
    seen = Queue.new
    subscribers = names.map do |name|
      ActiveSupport::Notifications.subscribe(name) { |*args| seen << ActiveSupport::Notifications::Event.new(*args) }
    end
    block.call
    Array.new(seen.size) { seen.pop }
  ensure
    subscribers&.each { |s| ActiveSupport::Notifications.unsubscribe(s) }
  end

  test "a worker thread killed mid-step: the step and the perform end with Unwound, its progress is kept" do
    UnwindJob.in_step = Queue.new
    job = UnwindJob.new
    events = events_of("step.active_job", "perform.active_job") do
      worker = Thread.new { job.perform_now }
      assert_equal :inside, Timeout.timeout(10) { UnwindJob.in_step.pop }
      worker.kill
      assert worker.join(10), "the killed worker ends"
    end
    by_name = events.to_h { |event| [event.name, event] }
    assert_equal %w[perform.active_job step.active_job], by_name.keys.sort
    by_name.each_value do |event|
      assert_instance_of UNWOUND, event.payload[:exception_object], "#{event.name} says it did not finish"
      assert_equal [UNWOUND.name, Holdfast::Continuation::UnwindReport::MESSAGE], event.payload[:exception]
      refute_empty event.payload[:exception_object].backtrace.to_a
    end
    refute_match(/Step 'work' completed|Performed UnwindJob/, @log.string)
    record = @store.get(job.job_id)
    assert_nil record["completed_at"]
    refute_nil record["lease_owner"], "the lease is left to run out so recovery takes the job"
    assert_equal 1, record["cursor"]
  end

  test "exceptions, throws and returns keep their own outcome" do
    events = events_of("perform.active_job") do
      ActiveSupport::Notifications.instrument("perform.active_job", how: :return) { :done }
      catch(:out) { ActiveSupport::Notifications.instrument("perform.active_job", how: :throw) { throw :out } }
      assert_raises(ArgumentError) do
        ActiveSupport::Notifications.instrument("perform.active_job", how: :raise) { raise ArgumentError, "boom" }
      end
    end
    outcomes = events.to_h { |event| [event.payload[:how], event.payload[:exception_object]] }
    assert_equal %i[raise return throw], outcomes.keys.sort
    assert_nil outcomes[:return]
    assert_nil outcomes[:throw]
    assert_instance_of ArgumentError, outcomes[:raise]
  end

  test "other events and a thread killed outside a job are left alone" do
    ready = Queue.new
    events = events_of("sql.active_record") do
      thread = Thread.new { ActiveSupport::Notifications.instrument("sql.active_record", {}) { ready << 1 && sleep } }
      ready.pop
      thread.kill
      thread.join(10)
    end
    assert_equal 1, events.size
    assert_nil events.first.payload[:exception_object]
  end
end
