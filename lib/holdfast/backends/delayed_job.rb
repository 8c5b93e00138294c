# frozen_string_literal: true

require "delayed_job"

module Holdfast
  # delayed_job's worker traps TERM and INT when it starts, replacing any
  # handler installed before (Holdfast's too); its :execute callbacks run
  # after that, so the plugin chains Holdfast's stop to the worker's own
  # handlers there, and starts the recovery sweeper in the worker.
  class DelayedJobPlugin < ::Delayed::Plugin
    callbacks do |lifecycle|
      lifecycle.before(:execute) do |_worker|
        Holdfast.trap_signals!("TERM", "INT")
        Backends.start_recovery
      end
    end

    # The row a dead worker left locked for this job (delayed_job runs it
    # again only when max_run_time has passed since it was locked), unlocked
    # to run now. False when there is none: the job is enqueued afresh.
    def self.unlock(job)
      rows = ::Delayed::Job
      return false unless rows.respond_to?(:where) && rows.respond_to?(:sanitize_sql_like)

      # The handler is YAML: the id is plain, or quoted when it would read
      # as another type.
      id = rows.sanitize_sql_like(job.job_id, "!")
      locked = rows.where.not(locked_by: nil)
                   .where("handler LIKE ? ESCAPE '!' OR handler LIKE ? ESCAPE '!'",
                          "%job_id: #{id}\n%", "%job_id: '#{id}'\n%")
      locked.update_all(locked_by: nil, locked_at: nil, run_at: rows.db_time_now).positive?
    end
  end
end
