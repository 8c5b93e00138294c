# frozen_string_literal: true

require "json"

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
      # The largest payload kept for recovery (the store's limit).
      MAX_PAYLOAD_BYTES = 1024 * 1024

      def self.begin(job, store)
        # The class name is for listing; an anonymous job class has none.
        class_name = job.class.name || "anonymous #{job.class.superclass.name}"
        new(job, store.begin_execution(job.job_id, class_name, payload: payload_for(job)))
      end

      # The job as Active Job serializes it, which is what recovery
      # re-enqueues should this process die mid-run; nil (and a warning)
      # when it cannot be kept, and then the job is not recovered.
      def self.payload_for(job)
        return nil unless job.class.name

        text = JSON.generate(job.serialize)
        return text if text.bytesize <= MAX_PAYLOAD_BYTES

        job.logger&.warn("Holdfast: #{job.class.name} (Job ID: #{job.job_id}) has a #{text.bytesize}-byte payload, " \
                         "over #{MAX_PAYLOAD_BYTES}; its progress is kept, but it cannot be re-enqueued if its " \
                         "process dies (keep large arguments in the database)")
        nil
      end

      attr_reader :execution

      def initialize(job, execution)
        @job = job
        @execution = execution
        @finished = !execution.began?
        Holdfast.work_running(1) unless @finished
        adopt_stored_progress
      end

      # The execution ends here without completing (interrupted and
      # re-enqueued, or failed): its progress is written and its lease
      # dropped, so recovery leaves it to its backend. Except when the
      # process is stopping and the job's queue is in its memory (:async):
      # the re-enqueued job dies with the process, so the lease is left to
      # run out and another process recovers the job. A failure here is
      # logged, not raised: it must not hide the job's own outcome, and the
      # lease runs out by itself.
      #
      # +abandoned+: the perform was unwound by Thread#kill, a process exit
      # or a signal, not by its own success or failure. Nothing will re-run
      # it, so its progress is written now and its lease left to run out:
      # recovery resumes it from this cursor.
      def finish(abandoned: false)
        return if @finished

        if abandoned
          record(interrupt: true)
          @job.logger&.warn("Holdfast: #{@job.class.name} (Job ID: #{@job.job_id}) stopped without finishing (its " \
                            "thread was killed or the process is exiting); its lease is left to run out so " \
                            "recovery resumes it from its cursor")
        end
        keep = abandoned || (Holdfast.stopping? && Backends.in_memory_queue?(@job.class.queue_adapter))
        @execution.release(keep_lease: keep)
      rescue Holdfast::StoreError, Continuation::StaleExecutionError, ArgumentError => e
        @job.logger&.warn("Holdfast: releasing #{@job.class.name} (Job ID: #{@job.job_id}): #{e.message}")
      ensure
        # Last: a trap_signals! thread waiting for this process's jobs sends
        # the signal on once none is running, and must not cut the release.
        done!
      end

      # False when the job's record is completed: this copy of the job (a
      # second recovery, a backend's redelivery, an old retry) must do
      # nothing. The store decided it in the same operation as the begin.
      def began?
        @execution.began?
      end

      # Logs that this copy of a finished job does nothing.
      def already_completed
        completed_at = @execution.progress&.fetch("completed_at", nil)
        at = completed_at ? " at #{completed_at.utc.iso8601(3)}" : ""
        @job.logger&.info("Holdfast: #{@job.class.name} (Job ID: #{@job.job_id}) already completed#{at}; " \
                          "this copy does nothing (enqueue it with a new job id to run it again)")
        nil
      end

      # Logs that a newer execution took the job over: this one stops
      # without writing and without failing (a failure would be retried and
      # take the job back).
      def self.superseded(job, error)
        job.logger&.warn("Holdfast: #{job.class.name} (Job ID: #{job.job_id}) stopped: #{error.message}")
        nil
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
        done!
      end

      private

      def done!
        return if @finished

        @finished = true
        Holdfast.work_running(-1)
      end

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
