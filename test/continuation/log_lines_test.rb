# frozen_string_literal: true

require_relative "helper"
require "holdfast/continuation/log_subscriber"

# One job whose steps have Date, String, Integer and Array cursors, each
# interrupted once mid-step, and one error after advancing: every kind of
# continuation log line Rails 8.1 prints. The expected lines are Rails 8.1's
# format (ActiveJob::LogSubscriber in activejob 8.1: cursors with to_s,
# durations rounded to 2 places). On Active Job 8.1 the lines come from
# Rails' own subscriber, which proves the expectation; elsewhere from
# Holdfast's. On 8.1 both subscribers also get the very same events, and
# their lines must be equal byte for byte.
class LogLinesJob < ActiveJob::Base
  include Holdfast::Continuable
  cattr_accessor :raised, default: false

  CURSORS = {
    dates: [Date.new(2024, 2, 28), Date.new(2024, 2, 29)],
    strings: %w[c d],
    integers: [41, 42],
    arrays: [[1, "x"], [2, "y"]]
  }.freeze

  def perform
    CURSORS.each do |name, (first, second)|
      step name, start: first do |step|
        if step.cursor == first
          Holdfast.stop! # the next checkpoint interrupts
          step.set!(second)
        end
      end
    end
    step :failing, start: 0 do |step|
      step.set!(1)
      unless raised
        self.class.raised = true
        raise ArgumentError, "boom"
      end
    end
  end
end

class LogLinesTest < ContinuationTestCase
  EVENTS = %w[step_started step step_skipped interrupt resume].freeze

  setup { LogLinesJob.raised = false }

  def run_job
    job = LogLinesJob.perform_later
    events = capture_events(*EVENTS) do
      8.times do
        Holdfast.resume!
        perform_enqueued_jobs
      end
    end
    assert_empty enqueued_jobs, "the job finished"
    [job, events]
  end

  def normalize(lines)
    lines.grep(/Step|Interrupted|Resuming|Error during/).map { |line| line.sub(/ in \d+\.\d{1,2}ms/, " in Xms") }
  end

  # Each step stops once mid-step, so each execution but the first starts
  # by resuming the step the last one stopped in.
  def expected_lines(id)
    job = "LogLinesJob (Job ID: #{id})"
    names = LogLinesJob::CURSORS.keys.map(&:to_s) + ["failing"]
    shown = { "dates" => "2024-02-29", "strings" => "d", "integers" => "42", "arrays" => '[2, "y"]', "failing" => "1" }
    inspected = LogLinesJob::CURSORS.transform_keys(&:to_s).transform_values { |(_, second)| second.inspect }
    lines = []
    names.each_with_index do |name, index|
      previous = names[index - 1] if index.positive?
      if previous
        lines << "Resuming #{job} at '#{previous}', cursor '#{inspected.fetch(previous, "1")}'"
        lines.concat(names.first(index - 1).map { |skipped| "Step '#{skipped}' skipped LogLinesJob" })
        lines << "Step '#{previous}' resumed from cursor '#{shown[previous]}' for #{job}"
        lines << "Step '#{previous}' completed for #{job} in Xms"
      end
      lines << "Step '#{name}' started for #{job}"
      if name == "failing"
        lines << "Error during step 'failing' at cursor '1' for #{job} in Xms: ArgumentError (boom)"
      else
        lines << "Interrupted #{job} at '#{name}', cursor '#{inspected[name]}' (stopping)"
        lines << "Step '#{name}' interrupted at cursor '#{shown[name]}' for #{job} in Xms"
      end
    end
    lines << "Resuming #{job} at 'failing', cursor '1'"
    lines.concat(names.first(4).map { |skipped| "Step '#{skipped}' skipped LogLinesJob" })
    lines << "Step 'failing' resumed from cursor '1' for #{job}"
    lines << "Step 'failing' completed for #{job} in Xms"
    lines
  end

  test "the log lines are Rails 8.1's, for Date, String, Integer and Array cursors" do
    job, = run_job
    assert_equal expected_lines(job.job_id), normalize(log_lines)
  end

  test "on Active Job 8.1, Holdfast's subscriber and Rails' print the same bytes for the same events" do
    skip "Active Job #{ActiveJob.gem_version} has no continuation log lines of its own" unless RAILS_CONTINUATIONS
    if ActiveJob.gem_version >= Gem::Version.new("8.2.0.alpha")
      skip "Active Job 8.2's subscriber reads structured events (ActiveSupport::EventReporter), not notifications; " \
           "its lines are compared with Rails 8.1's by the test above"
    end
    _job, events = run_job
    by_subscriber = [ActiveJob::LogSubscriber.new, Holdfast::Continuation::LogSubscriber.new].map do |subscriber|
      @log.truncate(0)
      @log.rewind
      events.each { |event| subscriber.public_send(event.name.delete_suffix(".active_job"), event) }
      log_lines
    end
    rails, holdfast = by_subscriber
    assert_equal expected_lines("x").size, rails.size
    assert_equal rails, holdfast
  end
end
