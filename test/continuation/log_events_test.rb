# frozen_string_literal: true

require_relative "helper"

class ReportedJob < ActiveJob::Base
  include Holdfast::Continuable
  cattr_accessor :fail, default: false

  def perform
    step(:validate) {}
    step :process, start: 430 do |step|
      raise "boom" if fail

      4.times { step.advance! }
    end
  end
end

class LogEventsTest < ContinuationTestCase
  setup do
    ReportedJob.fail = false
    ReportedJob.resume_errors_after_advancing = true
  end

  test "events carry Rails 8.1's names and payloads" do
    events = capture_events(:step_started, :step, :step_skipped, :interrupt, :resume) do
      ReportedJob.perform_later
      interrupt_job_during_step(ReportedJob, :process, cursor: 433) { perform_enqueued_jobs }
      perform_enqueued_jobs
    end
    names = events.map { |e| e.name.delete_suffix(".active_job") }
    assert_equal %w[step_started step step_started interrupt step resume step_skipped step_started step], names

    interrupt = events.find { |e| e.name == "interrupt.active_job" }.payload
    assert_equal :stopping, interrupt[:reason]
    assert_equal "at 'process', cursor '433'", interrupt[:description]
    assert_equal [:validate], interrupt[:completed_steps]
    assert_equal :process, interrupt[:current_step].name
    assert_kind_of ReportedJob, interrupt[:job]

    steps = events.select { |e| e.name == "step.active_job" }.map { |e| [e.payload[:step].name, e.payload[:interrupted]] }
    assert_equal [[:validate, false], [:process, true], [:process, false]], steps
    resume = events.find { |e| e.name == "resume.active_job" }.payload
    assert_equal "at 'process', cursor '433'", resume[:description]
    assert_equal :validate, events.find { |e| e.name == "step_skipped.active_job" }.payload[:step]
  end

  test "log lines read as Rails 8.1 prints them" do
    job = ReportedJob.perform_later
    interrupt_job_during_step(ReportedJob, :process, cursor: 433) { perform_enqueued_jobs }
    perform_enqueued_jobs
    id = job.job_id
    lines = log_lines.grep(/Step|Interrupted|Resuming/).map { |line| line.sub(/ in \d+\.\d{1,2}ms/, " in Xms") }
    assert_equal [
      "Step 'validate' started for ReportedJob (Job ID: #{id})",
      "Step 'validate' completed for ReportedJob (Job ID: #{id}) in Xms",
      "Step 'process' started for ReportedJob (Job ID: #{id})",
      "Interrupted ReportedJob (Job ID: #{id}) at 'process', cursor '433' (stopping)",
      "Step 'process' interrupted at cursor '433' for ReportedJob (Job ID: #{id}) in Xms",
      "Resuming ReportedJob (Job ID: #{id}) at 'process', cursor '433'",
      "Step 'validate' skipped ReportedJob",
      "Step 'process' resumed from cursor '433' for ReportedJob (Job ID: #{id})",
      "Step 'process' completed for ReportedJob (Job ID: #{id}) in Xms"
    ], lines
  end

  test "an error in a step is logged at error level with the cursor" do
    ReportedJob.fail = true
    ReportedJob.resume_errors_after_advancing = false
    job = ReportedJob.perform_later
    assert_raises(RuntimeError) { perform_enqueued_jobs }
    severity, line = log_entries.find { |_, message| message.start_with?("Error during step") }
    assert_equal "ERROR", severity
    assert_match(/\AError during step 'process' at cursor '430' for ReportedJob \(Job ID: #{job.job_id}\) in \d+\.\d{1,2}ms: RuntimeError \(boom\)\z/, line)
  end

  test "after only completed steps the description reads after 'step'" do
    ReportedJob.perform_later
    interrupt_job_after_step(ReportedJob, :validate) { perform_enqueued_jobs }
    assert_includes log_lines.join("\n"), "after 'validate' (stopping)"
    assert_equal "not started", ReportedJob.new.continuation.description
  end
end
