# frozen_string_literal: true

module Holdfast
  class Continuation
    # One execution's link to the store: takes the fencing token when the
    # execution starts, adopts the store's progress when it is ahead of the
    # payload's (the process died before it could re-enqueue the job), and
    # records every checkpoint under the store's durability. The store's
    # execution (the core's Run) keeps what was last recorded and writes
    # only what changed.
    #
    # The job tells it where it is with #__holdfast_progress
    # ([completed step names, [current step name, cursor JSON text or nil] or
    # nil]) and takes stored progress with #__holdfast_adopt(record); each
    # continuation implementation (Holdfast's, Rails 8.1's) defines both.
    class Durable
      def self.begin(job, store)
        # The class name is for listing; an anonymous job class has none.
        class_name = job.class.name || "anonymous #{job.class.superclass.name}"
        new(job, store.begin_execution(job.job_id, class_name))
      end

      attr_reader :execution

      def initialize(job, execution)
        @job = job
        @execution = execution
        adopt_stored_progress
      end

      # Hands the job's progress to the store (nothing is written when it
      # did not change). +interrupt+ makes it durable now, whatever the
      # policy. Raises StaleExecutionError when a newer execution owns the job.
      def record(interrupt: false)
        completed, current = @job.__holdfast_progress
        @execution.checkpoint(completed: completed, current: current, interrupt: interrupt)
      end

      def complete
        record
        @execution.complete
      end

      private

      # The payload is what the last orderly interrupt re-enqueued; the
      # store also has whatever came after it. The store wins when it has
      # completed more steps, or as many with progress in a step.
      def adopt_stored_progress
        stored = @execution.progress
        return unless stored && stored["completed_at"].nil?

        payload = @job.continuation.to_h
        payload_completed = payload.fetch("completed", [])
        stored_steps = stored["completed"].size
        ahead = stored_steps > payload_completed.size ||
                (stored_steps == payload_completed.size && stored["current"] &&
                  (!payload.key?("current") || payload["current"].first == stored["current"][0]))
        return unless ahead && stored["completed"].first(payload_completed.size) == payload_completed

        @job.__holdfast_adopt(stored)
        @job.resumptions = [@job.resumptions, stored["resumptions"] - 1].max
      end
    end
  end
end
