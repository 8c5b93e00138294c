# frozen_string_literal: true

require "json"

module Holdfast
  # Brings back jobs whose process died mid-run. Every execution of a
  # continuable job holds a lease in the store, renewed by its checkpoints
  # and by its process's heartbeat; when the process is SIGKILLed or OOM
  # killed (or its host goes away), the lease runs out. Recovery claims
  # each such orphan in one transaction (a new fencing token, so the dead
  # execution can never write again, even if it comes back) and re-enqueues
  # it through Active Job under the same job id; the job resumes from the
  # store's progress.
  #
  #   Holdfast.recover_orphans!              # once, now
  #   Holdfast.start_recovery!(interval: 5)  # every 5 s in a background thread
  #
  # The Railtie starts the sweeper in processes that perform jobs (see the
  # README, "Running on your job backend").
  module Recovery
    module_function

    # Claims and re-enqueues up to +limit+ orphans; returns their job ids.
    # An orphan that cannot be re-enqueued (its class is gone, the queue is
    # down) is logged and comes up again once the claim's lease runs out.
    def recover_orphans!(store: Holdfast.continuation_store, limit: 100)
      return [] unless store

      store.claim_orphans(limit: limit).filter_map { |orphan| reenqueue(orphan) }
    end

    def reenqueue(orphan)
      job = ::ActiveJob::Base.deserialize(JSON.parse(orphan.fetch("payload")))
      # Due now: it was running when its process died.
      job.scheduled_at = nil if job.respond_to?(:scheduled_at=)
      raise "the enqueue was aborted by a before_enqueue callback" unless Backends.redeliver(job)

      logger&.info("Holdfast: re-enqueued #{orphan["job_class"]} (Job ID: #{orphan["job_id"]}), whose process " \
                   "#{orphan["expired_owner"]} stopped renewing its lease at #{orphan["expired_at"].utc.iso8601(3)}; " \
                   "it resumes from the store")
      orphan["job_id"]
    rescue StandardError, ScriptError => e
      logger&.error("Holdfast: could not re-enqueue orphan #{orphan["job_class"]} (Job ID: #{orphan["job_id"]}): " \
                    "#{e.class}: #{e.message}; it is tried again when this claim's lease runs out")
      nil
    end

    def logger
      Holdfast.logger || (defined?(::ActiveJob::Base) && ::ActiveJob::Base.logger)
    end
  end

  class << self
    # See Holdfast::Recovery.recover_orphans!.
    def recover_orphans!(**options)
      require "active_job"
      wrapped { Recovery.recover_orphans!(**options) }
    end

    # Starts a thread in this process that recovers orphans every
    # +interval+ seconds (once per process: a second call, or one in a
    # forked child whose thread did not survive the fork, starts it only if
    # it is not running here). Returns the thread.
    def start_recovery!(interval: 5)
      unless interval.is_a?(Numeric) && interval.positive? && interval.finite?
        raise ArgumentError, "interval must be a positive number of seconds, got #{interval.inspect}"
      end

      recovery_lock.synchronize do
        return @recovery_thread if @recovery_thread&.alive? && @recovery_pid == Process.pid

        @recovery_stop = false
        @recovery_pid = Process.pid
        @recovery_thread = Thread.new { sweep(interval) }
      end
    end

    # Stops the sweeper (it finishes the pass it is in).
    def stop_recovery!
      thread = recovery_lock.synchronize do
        @recovery_stop = true
        @recovery_wake.broadcast
        @recovery_thread
      end
      thread&.join
      nil
    end

    def recovery_running?
      recovery_lock.synchronize { @recovery_thread&.alive? && @recovery_pid == Process.pid } || false
    end

    private

    def recovery_lock
      @recovery_lock ||= begin
        @recovery_wake = ConditionVariable.new
        Mutex.new
      end
    end

    def sweep(interval)
      Thread.current.name = "holdfast-recovery"
      loop do
        begin
          recover_orphans!
        rescue StandardError => e
          Recovery.logger&.error("Holdfast: recovering orphans failed: #{e.class}: #{e.message}")
        end
        recovery_lock.synchronize do
          @recovery_wake.wait(@recovery_lock, interval) unless @recovery_stop
          return if @recovery_stop
        end
      end
    end

    # Enqueuing loads job classes and runs callbacks: application code, so
    # inside the app's executor when there is one.
    def wrapped(&block)
      executor = defined?(::Rails) && ::Rails.respond_to?(:application) && ::Rails.application&.executor
      executor ? executor.wrap(&block) : yield
    end
  end
end
