# frozen_string_literal: true

module Holdfast
  module Backends
    # GoodJob keeps one row per job, keyed by the Active Job id, and runs a
    # job while holding a PostgreSQL advisory lock on its row in the
    # worker's session. A SIGKILLed worker's session ends with it, the lock
    # goes, and GoodJob runs the unfinished row again by itself within
    # seconds: that execution begins in Holdfast's store like any other,
    # fences the dead one off and resumes from its cursor. So Holdfast's
    # recovery adds no copy of its own (an enqueue under the same id could
    # not even be inserted): it leaves an unfinished row to GoodJob, and
    # only brings back a row GoodJob finished while Holdfast's record says
    # the job never did (discarded with an interrupt error, or finished by a
    # zombie that was fenced off), through GoodJob's own retry where it has
    # one.
    #
    # The sweeper runs wherever GoodJob's capsule runs (`good_job start`,
    # or async mode in the app's processes); its shutdown stops Holdfast's
    # other interrupt sources (GoodJob's TERM/INT handlers replace any
    # installed before, trap_signals!'s included).
    module GoodJob
      module_function

      def install
        ::GoodJob::Capsule.prepend(CapsuleHooks) unless ::GoodJob::Capsule <= CapsuleHooks
      end

      def adapter?(job)
        defined?(::GoodJob::Adapter) && job.class.queue_adapter.is_a?(::GoodJob::Adapter)
      end

      # True when GoodJob's row takes the orphan; false when there is no
      # row (it is enqueued afresh).
      def redeliver(job)
        row = ::GoodJob::Job.find_by(id: job.job_id)
        return false unless row
        return true if row.finished_at.nil?

        if row.error.present?
          row.retry_job
        else
          # Finished in GoodJob's eyes, not in Holdfast's: due again now.
          row.update!(finished_at: nil, performed_at: nil, scheduled_at: Time.now)
        end
        true
      end

      # Prepended to GoodJob::Capsule: the sweeper starts and stops with it.
      # A capsule started again after its shutdown (GoodJob.restart, as a
      # forking server's worker boot does after the master's shutdown)
      # lifts the stop its shutdown made, so the new process's jobs run.
      module CapsuleHooks
        def start(*args, **options)
          if @holdfast_stopped
            @holdfast_stopped = false
            Holdfast.resume!
          end
          super.tap { Backends.start_recovery }
        end

        def shutdown(*args, **options)
          @holdfast_stopped = true unless Holdfast.stopping?
          Holdfast.stop!
          super.tap { Holdfast.stop_recovery! }
        end
      end
    end
  end
end
