# frozen_string_literal: true

require_relative "helper"

# Jobs for these tests record what they did in a class-level list.
class LinearJob < ActiveJob::Base
  include Holdfast::Continuable
  cattr_accessor :items, default: []

  def perform
    step(:one) { items << :one }
    step :two, start: 1 do |step|
      (step.cursor..5).each do |i|
        items << [:two, i]
        step.advance!
      end
    end
    step :three
  end

  private

  def three(step)
    items << [:three, step.resumed?]
  end
end

class StepsTest < ContinuationTestCase
  setup { LinearJob.items = [] }

  test "a job runs every step once and completes its store record" do
    job = LinearJob.perform_later
    perform_enqueued_jobs
    assert_equal [:one, [:two, 1], [:two, 2], [:two, 3], [:two, 4], [:two, 5], [:three, false]], LinearJob.items
    record = @store.get(job.job_id)
    assert_equal %w[one two three], record["completed"]
    refute_nil record["completed_at"]
  end

  test "a step interrupted at a cursor resumes there and completed steps are skipped" do
    LinearJob.perform_later
    interrupt_job_during_step(LinearJob, :two, cursor: 3) { perform_enqueued_jobs }
    assert_equal [:one, [:two, 1], [:two, 2]], LinearJob.items
    payload = enqueued_jobs.last
    assert_equal({ "completed" => ["one"], "current" => ["two", 3] }, payload["continuation"])
    assert_equal 0, payload["resumptions"]

    LinearJob.items = []
    perform_enqueued_jobs
    assert_equal [[:two, 3], [:two, 4], [:two, 5], [:three, false]], LinearJob.items
    assert_includes log_lines.join("\n"), "Step 'one' skipped LinearJob"
    assert_match(/Step 'two' resumed from cursor '3' for LinearJob \(Job ID: \S+\)/, log_lines.join("\n"))
  end

  test "interrupting after a step resumes at the next one; after the last step nothing interrupts" do
    LinearJob.perform_later
    interrupt_job_after_step(LinearJob, :one) { perform_enqueued_jobs }
    assert_equal [:one], LinearJob.items
    assert_equal({ "completed" => ["one"] }, enqueued_jobs.last["continuation"])
    interrupt_job_after_step(LinearJob, :three) { perform_enqueued_jobs }
    assert_equal [:one, [:two, 1], [:two, 2], [:two, 3], [:two, 4], [:two, 5], [:three, false]], LinearJob.items
    assert_empty enqueued_jobs
  end

  test "the payload counts resumptions" do
    LinearJob.perform_later
    interrupt_job_during_step(LinearJob, :two, cursor: 2) { perform_enqueued_jobs }
    interrupt_job_during_step(LinearJob, :two, cursor: 4) { perform_enqueued_jobs }
    interrupt_job_during_step(LinearJob, :two, cursor: 5) { perform_enqueued_jobs }
    # Three executions: the first started fresh, two resumed.
    assert_equal 2, enqueued_jobs.last["resumptions"]
    assert_equal 2, @store.get(enqueued_jobs.last["job_id"])["resumptions"]
  end
end
