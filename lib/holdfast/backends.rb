# frozen_string_literal: true

module Holdfast
  # Graceful stops and orphan recovery, wired into the job backends the
  # Railtie finds (or by hand: Holdfast::Backends.install). Each piece is
  # installed where that backend performs jobs, and only there:
  #
  # - Sidekiq server: its :quiet event (TSTP, and the start of a TERM
  #   shutdown) calls Holdfast.stop!, so jobs stop at their next checkpoint
  #   and are re-enqueued instead of running into Sidekiq's shutdown
  #   timeout and being killed; the recovery sweeper starts with the server.
  # - delayed_job worker: a plugin chains Holdfast's TERM/INT handling to
  #   the worker's own (which otherwise replaces it) and starts the sweeper.
  # - Active Job's :async adapter (jobs run inside the app's processes):
  #   the sweeper starts with the app, and a job stopped while its process
  #   exits keeps its lease, since the in-memory queue it was re-enqueued
  #   to dies with the process; the next process recovers it.
  # - Solid Queue worker and GoodJob capsule: their start and stop hooks
  #   (backends/solid_queue.rb, backends/good_job.rb), and recovery goes
  #   through the backend's own rows for the job instead of a second copy.
  module Backends
    module_function

    # +recovery+: start the sweeper in job processes; +interval+: seconds
    # between its passes.
    def install(recovery: true, interval: 5)
      @recovery = recovery
      @interval = interval
      install_sidekiq if defined?(::Sidekiq) && ::Sidekiq.respond_to?(:configure_server)
      install_delayed_job if defined?(::Delayed::Worker)
      install_solid_queue if defined?(::SolidQueue) && ::SolidQueue.respond_to?(:on_worker_start)
      install_good_job if defined?(::GoodJob::Capsule)
      nil
    end

    # Called by the Railtie once Active Job has its adapter. With :async,
    # the app's own processes perform jobs; not a console or a rake task,
    # which would take orphans into a queue that ends with them.
    def adapter_ready(adapter)
      start_recovery if async?(adapter) && !defined?(::Rails::Console) && !rake_task?
    end

    def rake_task?
      defined?(::Rake.application) && ::Rake.application.respond_to?(:top_level_tasks) &&
        !::Rake.application.top_level_tasks.empty?
    end

    class << self
      # Set by processes that only look (the holdfast command): no sweeper.
      attr_accessor :recovery_off
    end

    def start_recovery
      Holdfast.start_recovery!(interval: @interval || 5) if @recovery != false && !recovery_off
    end

    def install_sidekiq
      ::Sidekiq.configure_server do |config|
        config.on(:startup) { Backends.start_recovery }
        config.on(:quiet) { Holdfast.stop! }
        config.on(:shutdown) do
          Holdfast.stop!
          Holdfast.stop_recovery!
        end
      end
    end

    def install_delayed_job
      require_relative "backends/delayed_job"
      ::Delayed::Worker.plugins << DelayedJobPlugin unless ::Delayed::Worker.plugins.include?(DelayedJobPlugin)
    end

    def install_solid_queue
      require_relative "backends/solid_queue"
      SolidQueue.install
    end

    def install_good_job
      require_relative "backends/good_job"
      GoodJob.install
    end

    # Whether a job's queue lives only in this process's memory, so a job
    # re-enqueued while the process exits is lost with it.
    def in_memory_queue?(adapter)
      async?(adapter) || (defined?(::ActiveJob::QueueAdapters::InlineAdapter) &&
                          adapter.is_a?(::ActiveJob::QueueAdapters::InlineAdapter))
    end

    def async?(adapter)
      defined?(::ActiveJob::QueueAdapters::AsyncAdapter) && adapter.is_a?(::ActiveJob::QueueAdapters::AsyncAdapter)
    end

    # Puts a recovered orphan back on its backend's queue, through the row
    # the backend still has for it where it has one, so the job has one row,
    # not two: delayed_job's row the dead worker left locked (it would run
    # again only once max_run_time passes) is unlocked to run now; Solid
    # Queue's failed or dead-claimed execution is retried or released;
    # GoodJob's unfinished row is left to GoodJob, which runs it again by
    # itself. Any other backend gets the job enqueued again.
    def redeliver(job)
      return true if defined?(DelayedJobPlugin) && DelayedJobPlugin.unlock(job)
      return true if const_defined?(:SolidQueue, false) && SolidQueue.adapter?(job) && SolidQueue.redeliver(job)
      return true if const_defined?(:GoodJob, false) && GoodJob.adapter?(job) && GoodJob.redeliver(job)

      job.enqueue != false
    end
  end
end
