# frozen_string_literal: true

require_relative "helper"

class FlakyJob < ActiveJob::Base
  include Holdfast::Continuable
  cattr_accessor :fail_at, default: {}
  cattr_accessor :seen, default: []

  def perform
    step(:prepare) { raise IOError, "prepare failed" if fail_at[:prepare] }
    step :rows, start: 0 do |step|
      while step.cursor < 6
        raise IOError, "row #{step.cursor} failed" if fail_at[:row] == step.cursor

        seen << step.cursor
        step.advance!
      end
    end
  end
end

class ErrorsTest < ContinuationTestCase
  setup do
    FlakyJob.seen = []
    FlakyJob.fail_at = {}
    FlakyJob.resume_errors_after_advancing = true
    FlakyJob.max_resumptions = nil
    FlakyJob.resume_options = { wait: 5.seconds }
  end

  test "an error after advancing re-enqueues the job with its progress, counting an execution for the error" do
    FlakyJob.fail_at = { row: 3 }
    FlakyJob.perform_later
    perform_enqueued_jobs
    resumed = enqueued_jobs.last
    assert_equal({ "completed" => ["prepare"], "current" => ["rows", 3] }, resumed["continuation"])
    # Rails counts it under the to_s of what it hands to resume_job: 8.1 a
    # Hash { exception: error }, 8.2 the error itself.
    handed = ActiveJob.gem_version >= Gem::Version.new("8.2.0.alpha") ? IOError.new("row 3 failed") : { exception: IOError.new("row 3 failed") }
    assert_equal({ handed.to_s => 1 }, resumed["exception_executions"])
    FlakyJob.fail_at = {}
    perform_enqueued_jobs
    assert_equal [0, 1, 2, 3, 4, 5], FlakyJob.seen
  end

  test "an error before any progress in this execution propagates unchanged" do
    FlakyJob.fail_at = { prepare: true }
    FlakyJob.perform_later
    error = assert_raises(IOError) { perform_enqueued_jobs }
    assert_equal "prepare failed", error.message
    assert_empty enqueued_jobs
  end

  test "a repeated error at the same cursor propagates the second time (no progress in that execution)" do
    FlakyJob.fail_at = { row: 2 }
    FlakyJob.perform_later
    perform_enqueued_jobs
    assert_equal [0, 1], FlakyJob.seen
    assert_raises(IOError) { perform_enqueued_jobs }
    assert_equal [0, 1], FlakyJob.seen
  end

  test "resume_errors_after_advancing = false lets every error propagate" do
    FlakyJob.resume_errors_after_advancing = false
    FlakyJob.fail_at = { row: 3 }
    FlakyJob.perform_later
    assert_raises(IOError) { perform_enqueued_jobs }
    assert_empty enqueued_jobs
  end

  test "max_resumptions stops resuming with ResumeLimitError" do
    FlakyJob.max_resumptions = 1
    FlakyJob.perform_later
    interrupt_job_during_step(FlakyJob, :rows, cursor: 2) { perform_enqueued_jobs }
    error = assert_raises(Holdfast::Continuation::ResumeLimitError) do
      interrupt_job_during_step(FlakyJob, :rows, cursor: 4) { perform_enqueued_jobs }
    end
    assert_equal "Job was resumed a maximum of 1 times", error.message
  end

  test "resume_options go to retry_job" do
    FlakyJob.resume_options = { wait: 42.seconds, queue: "resumed" }
    FlakyJob.perform_later
    freeze_time = Time.now.to_f
    interrupt_job_during_step(FlakyJob, :rows, cursor: 1) { perform_enqueued_jobs }
    resumed = enqueued_jobs.last
    assert_equal "resumed", resumed[:queue] || resumed["queue_name"]
    assert_in_delta freeze_time + 42, resumed[:at], 5
  end
end

class IsolatedJob < ActiveJob::Base
  include Holdfast::Continuable
  cattr_accessor :layout, default: []
  cattr_accessor :ran, default: []

  def perform
    layout.each do |name, isolated|
      step(name, isolated: isolated) { ran << name }
    end
  end
end

class IsolatedStepsTest < ContinuationTestCase
  setup { IsolatedJob.ran = [] }

  # Runs the job to the end, one execution at a time; returns what each ran.
  def executions
    IsolatedJob.perform_later
    runs = []
    until enqueued_jobs.empty?
      before = IsolatedJob.ran.dup
      perform_enqueued_jobs
      runs << (IsolatedJob.ran - before)
    end
    runs
  end

  test "an isolated step in the middle runs in an execution of its own" do
    IsolatedJob.layout = [[:a, false], [:b, true], [:c, false]]
    assert_equal [[:a], [:b], [:c]], executions
    assert_includes log_lines.join("\n"), "after 'a' (isolating)"
  end

  test "an isolated first step runs at once, then the job interrupts before the next step" do
    IsolatedJob.layout = [[:a, true], [:b, false], [:c, false]]
    assert_equal [[:a], %i[b c]], executions
  end

  test "an isolated last step waits for its own execution and the job ends with it" do
    IsolatedJob.layout = [[:a, false], [:b, false], [:c, true]]
    assert_equal [%i[a b], [:c]], executions
  end
end

class ValidationJob < ActiveJob::Base
  include Holdfast::Continuable
  cattr_accessor :body

  def perform
    instance_exec(&body)
  end

  def two_args(_a, _b); end

  def keywords(step:); end
end

class ValidationTest < ContinuationTestCase
  def error_for(body, payload_continuation = nil)
    ValidationJob.body = body
    job = ValidationJob.new
    job.deserialize(job.serialize.merge("continuation" => payload_continuation)) if payload_continuation
    error = assert_raises(Holdfast::Continuation::InvalidStepError, ArgumentError) { job.perform_now }
    error.message
  end

  test "step names, repeats, nesting and resume order are checked with Rails' messages" do
    assert_equal "Step 'x' must be a Symbol, found 'String'", error_for(-> { step("x") {} })
    assert_equal "Step 'a' has already been encountered", error_for(-> { step(:a) {}; step(:a) {} })
    assert_equal "Step 'inner' is nested inside step 'outer'", error_for(-> { step(:outer) { step(:inner) {} } })
    assert_equal "Step 'b' found, expected to resume from 'a'",
                 error_for(-> { step(:b) {} }, { "current" => ["a", nil] })
    assert_equal "Step 'c' found, expected to see 'b'",
                 error_for(-> { step(:a) {}; step(:c) {} }, { "completed" => %w[a b] })
  end

  test "method steps must take 0 or 1 positional arguments and no keywords" do
    assert_equal "Step method 'two_args' must accept 0 or 1 arguments", error_for(-> { step(:two_args) })
    assert_equal "Step method 'keywords' must not accept keyword arguments", error_for(-> { step(:keywords) })
  end
end
