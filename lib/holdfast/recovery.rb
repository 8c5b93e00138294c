# frozen_string_literal: true

require "json"
require "set"

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
    # An orphan whose job class no longer loads is quarantined at once; one
    # that cannot be re-enqueued for another reason (the queue is down) is
    # logged and given back, to be tried again one lease later (not counted
    # as a recovery).
    # A crash loop (the store's max_recoveries in a row at one cursor) is
    # quarantined by the store: "quarantine.holdfast" and an error line
    # name the job, step and cursor. Damaged records are logged once and
    # skipped; a store whose write lock a paused process holds skips this
    # round (logged once until it frees).
    def recover_orphans!(store: Holdfast.continuation_store, limit: 100)
      return [] unless store

      swept = begin
        store.sweep_orphans(limit: limit)
      rescue StoreBusyError => e
        warn_once(:busy, "Holdfast: recovery skipped a round: #{e.message}")
        return []
      end
      reported.delete(:busy)
      swept["damaged"].each do |damaged|
        warn_once([:damaged, damaged["job_id"]], "Holdfast: recovery skipped a damaged record: #{damaged["damaged"]}")
      end
      swept["quarantined"].each { |record| quarantined(record) }
      swept["claimed"].filter_map { |orphan| reenqueue(orphan, store) }
    end

    def reenqueue(orphan, store = Holdfast.continuation_store)
      job = deserialize(orphan, store) or return nil
      return nil unless redeliver(job, orphan, store)

      hand_off(orphan, store)
      logger&.info("Holdfast: re-enqueued #{orphan["job_class"]} (Job ID: #{orphan["job_id"]}), whose process " \
                   "#{orphan["expired_owner"]} stopped renewing its lease at #{orphan["expired_at"]&.utc&.iso8601(3)}; " \
                   "it resumes from the store (recovery #{orphan["recoveries"]} in a row at this point)")
      orphan["job_id"]
    end

    # The job from its payload; nil when it cannot be had (a class that no
    # longer loads is quarantined, anything else given back).
    def deserialize(orphan, store)
      ::ActiveJob::Base.deserialize(JSON.parse(orphan.fetch("payload")))
    rescue NameError, JSON::ParserError => e
      reason = "recovery cannot re-enqueue it: #{e.class}: #{e.message}"
      if store&.quarantine(orphan["job_id"], token: orphan["token"], reason: reason)
        quarantined(store.get(orphan["job_id"]) || orphan.merge("quarantine_reason" => reason))
      end
      nil
    rescue StandardError, ScriptError => e
      not_enqueued(orphan, store, e)
    end

    # Puts the copy in its queue, due now (it was running when its process
    # died); false, with the claim given back, when that failed.
    def redeliver(job, orphan, store)
      job.scheduled_at = nil if job.respond_to?(:scheduled_at=)
      raise "the enqueue was aborted by a before_enqueue callback" unless Backends.redeliver(job)

      true
    rescue StandardError, ScriptError => e
      not_enqueued(orphan, store, e) || false
    end

    def not_enqueued(orphan, store, error)
      retry_in = give_back(orphan, store)
      logger&.error("Holdfast: could not re-enqueue orphan #{orphan["job_class"]} (Job ID: #{orphan["job_id"]}): " \
                    "#{error.class}: #{error.message}; it is tried again #{retry_in}")
      nil
    end

    # Queued: the claim holds while the copy waits its turn (until it
    # begins, or the recovery timeout). A recoverer killed before this held
    # it for one lease only. The copy is queued whatever happens here, so a
    # failure is no reason to give the claim back.
    def hand_off(orphan, store)
      store&.handed_off(orphan["job_id"], token: orphan["token"])
    rescue StandardError => e
      logger&.warn("Holdfast: re-enqueued #{orphan["job_class"]} (Job ID: #{orphan["job_id"]}) but could not extend " \
                   "its claim (#{e.class}: #{e.message}): if the copy waits in its queue past one lease, the job is " \
                   "enqueued again and the older copy stops at its first checkpoint")
    end

    # A claim whose enqueue failed (its queue is down) goes back, not
    # counted toward max_recoveries, to be tried again in one lease.
    def give_back(orphan, store)
      return "when this claim's lease runs out" unless store

      store.hand_back(orphan["job_id"], token: orphan["token"], retry_in: store.lease)
      "in #{store.lease.round(1)} s"
    rescue StandardError => e
      "when this claim's lease runs out (it could not be given back: #{e.class}: #{e.message})"
    end

    # Reports a job recovery gave up on: an event and an error line naming
    # it, its step and cursor, and why.
    def quarantined(record)
      payload = { job_id: record["job_id"], job_class: record["job_class"], step: record["current"]&.first,
                  cursor: record["cursor"], recoveries: record["recoveries"], reason: record["quarantine_reason"] }
      if defined?(::ActiveSupport::Notifications)
        ::ActiveSupport::Notifications.instrument("quarantine.holdfast", payload)
      end
      logger&.error("Holdfast: quarantined #{payload[:job_class]} (Job ID: #{payload[:job_id]}) at step " \
                    "#{payload[:step].inspect}, cursor #{payload[:cursor].inspect}: #{payload[:reason]}. It is not " \
                    "re-enqueued; `holdfast recover #{payload[:job_id]} --force` runs it again, " \
                    "`holdfast discard #{payload[:job_id]}` drops it")
    end

    # Logs +message+ once per +key+ in this process (a damaged record, a
    # busy store), not every sweep.
    def warn_once(key, message)
      return if reported.include?(key)

      reported << key
      logger&.warn(message)
    end

    def reported
      @reported ||= Set.new
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

    # Re-enqueues one claim (from Store#claim_one), inside the app's
    # executor; the job id, or nil when it could not be (logged).
    def wrapped_reenqueue(claim, store)
      require "active_job"
      wrapped { Recovery.reenqueue(claim, store) }
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
