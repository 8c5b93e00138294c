# frozen_string_literal: true

module Holdfast
  module Backends
    # Solid Queue keeps one row per enqueued job and an execution row for
    # where it is (ready, claimed by a process, failed, ...). When a worker
    # dies mid-job, Solid Queue either fails the claim at once (its
    # supervisor saw the fork exit: ProcessExitError) or leaves it claimed by
    # the dead process until it prunes that process, minutes later
    # (ProcessPrunedError). Neither runs the job again. Holdfast's recovery
    # brings it back through Solid Queue's own rows, so they tell the truth
    # afterwards: the failed execution is retried (no failure is left for a
    # job that resumed and completed), the dead process's claim is released
    # (nothing is left for the pruning to fail), and the job keeps its one
    # row instead of gaining a second.
    #
    # Worker processes run the sweeper and stop Holdfast's other interrupt
    # sources when Solid Queue stops them (its TERM/INT handlers replace any
    # installed before, trap_signals!'s included).
    module SolidQueue
      module_function

      def install
        ::SolidQueue.on_worker_start { Backends.start_recovery }
        ::SolidQueue.on_worker_stop { Holdfast.stop! }
        ::SolidQueue.on_worker_exit { Holdfast.stop_recovery! }
      end

      def adapter?(job)
        defined?(::ActiveJob::QueueAdapters::SolidQueueAdapter) &&
          job.class.queue_adapter.is_a?(::ActiveJob::QueueAdapters::SolidQueueAdapter)
      end

      # Puts +job+ (an orphan Holdfast claimed: its process stopped renewing
      # its lease) back through its unfinished Solid Queue row. False when
      # there is none (it finished, or was cleared): it is enqueued afresh.
      def redeliver(job)
        row = ::SolidQueue::Job.where(active_job_id: job.job_id, finished_at: nil).order(:id).last
        return false unless row

        if (failed = row.failed_execution)
          failed.retry
        elsif (claimed = row.claimed_execution)
          # Its process is dead or paused past the lease (a paused one is
          # fenced off when it resumes, and its claim is gone by then).
          claimed.release
        elsif !(row.ready_execution || row.scheduled_execution || row.blocked_execution)
          row.prepare_for_execution
        end
        # Otherwise ready, scheduled or blocked: already due to run.
        true
      end
    end
  end
end
