# frozen_string_literal: true

require "active_job"
require "active_support"
require "active_support/core_ext/numeric/time"
require "active_job/arguments"
require_relative "../holdfast"
require_relative "continuation"
require_relative "continuation/interrupts"

module Holdfast
  # Resumable work outside Active Job: a block of code in steps with
  # cursors, keyed by a name the caller chooses, with the same step API,
  # store, durability and fencing as Holdfast::Continuable.
  #
  #   Holdfast.resumable("backfill:users_email") do |run|
  #     run.step :copy, start: 0 do |step|
  #       User.where("id > ?", step.cursor).find_each do |user|
  #         user.update_columns(email_normalized: user.email.downcase)
  #         step.advance! from: user.id
  #       end
  #     end
  #     run.step :verify
  #   end
  #
  # It runs inside the app's executor (Rails.application.executor, else
  # Holdfast::Executor). A stop (Holdfast.stop!, trap_signals!, max_runtime:,
  # interrupt_if:) records the progress and raises Resumable::Interrupted;
  # the next call with the same key resumes from the store. A key that
  # completed runs again only with restart: true.
  class Resumable
    # The work stopped at a checkpoint; its progress is recorded and the
    # next call with the same key resumes from it.
    class Interrupted < Holdfast::Error
      attr_reader :key, :reason, :step, :cursor

      def initialize(key, reason, step, cursor)
        @key = key
        @reason = reason
        @step = step
        @cursor = cursor
        where = step ? "step '#{step}' at cursor #{cursor.inspect}" : "the next step"
        super("#{key} was interrupted (#{reason}); run it again to resume from #{where}")
      end
    end

    # What a call did: :completed, or :already_completed (a finished key,
    # not run again).
    Result = Struct.new(:key, :status, :resumptions, :completed_at, keyword_init: true)

    attr_reader :key, :resumptions

    def initialize(key, store:, max_runtime: nil, interrupt_if: nil)
      @key = key
      @store = store
      @max_runtime = max_runtime
      @interrupt_if = Array(interrupt_if)
      @resumptions = 0
    end

    # Runs the block with this run, in the executor. See Holdfast.resumable.
    def perform(restart: false)
      # One store operation: a finished key is left alone (two runs racing
      # cannot both start it over), or begun (restarted when asked).
      @execution = @store.begin_execution(@key, "Holdfast::Resumable", restart: restart)
      unless @execution.began?
        record = @execution.progress
        log(:info, "#{@key} already completed at #{record["completed_at"].utc.iso8601}; not run again (restart: true runs it anew)")
        return Result.new(key: @key, status: :already_completed, resumptions: record["resumptions"],
                          completed_at: record["completed_at"])
      end

      Holdfast.work_running(1)
      @counted = true
      @started_at = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      stored = @execution.progress
      @continuation = if stored && stored["completed_at"].nil?
                        Continuation.from_record(self, stored)
                      else
                        Continuation.new(self)
                      end
      if @continuation.started?
        @resumptions = stored["resumptions"]
        instrument(:resume, description: @continuation.description)
        log(:info, "#{@key} resuming #{@continuation.description}")
      end
      Resumable.wrapped { yield self }
      record_progress
      @execution.complete
      @finished = true
      log(:info, "#{@key} completed")
      Result.new(key: @key, status: :completed, resumptions: @resumptions, completed_at: Time.now)
    rescue Continuation::Interrupt
      raise Interrupted.new(@key, @interrupt_reason, *position)
    ensure
      finish unless @finished
      # Last: trap_signals! re-sends its signal once no work is running.
      Holdfast.work_running(-1) if @counted
      @counted = false
    end

    # Runs a step: the block, skipped when an earlier run completed it.
    def step(name, start: nil, isolated: false, &block)
      raise ArgumentError, "step #{name.inspect} needs a block" unless block

      checkpoint! if @continuation.advanced?
      @continuation.step(name, start: start, isolated: isolated, &block)
    end

    # For Continuation and its steps: records progress, then stops if asked.
    def checkpoint! # :nodoc:
      if Continuation::Interrupts.open_transactions?
        raise Continuation::CheckpointError, "Cannot checkpoint #{@key} with open transactions"
      end

      record_progress
      reason = interrupt_reason
      interrupt!(reason: reason) if reason
    end

    # An isolated step has no execution of its own to move to here: it
    # starts once everything before it is durably recorded.
    def interrupt!(reason:) # :nodoc:
      return record_progress(interrupt: true) if reason == :isolating

      @interrupt_reason = reason
      record_progress(interrupt: true)
      instrument(:interrupt, reason: reason, description: @continuation.description)
      log(:info, "#{@key} interrupted #{@continuation.description} (#{reason})")
      raise Continuation::Interrupt, "Interrupted #{@continuation.description} (#{reason})"
    end

    def __holdfast_instrument(event, payload, &block) # :nodoc:
      instrument(event, payload, &block)
    end

    private

    # Stopped, failed or superseded: whatever was recorded stays, the lease
    # goes (nothing re-enqueues resumable work; the caller runs it again).
    # A failure here must not hide the block's own outcome.
    def finish
      @execution&.release
    rescue Holdfast::StoreError, Continuation::StaleExecutionError, ArgumentError => e
      log(:warn, "#{@key}: releasing: #{e.message}")
    end

    def record_progress(interrupt: false)
      completed, current = @continuation.to_store
      @execution.checkpoint(completed: completed, current: current, interrupt: interrupt)
    end

    def interrupt_reason
      return :stopping if Holdfast.stopping?
      if @max_runtime && Process.clock_gettime(Process::CLOCK_MONOTONIC) - @started_at > @max_runtime.to_f
        return :max_runtime
      end

      answer = @interrupt_if.lazy.map { |check| check.call(self) }.find(&:itself)
      answer == true ? :stopping : answer
    end

    def position
      current = @continuation.current
      [current&.name, current&.cursor]
    end

    # Events as Active Job's continuations name them, under "holdfast":
    # step.holdfast, interrupt.holdfast, resume.holdfast, ...
    def instrument(event, payload, &block)
      payload = payload.merge(resumable: @key)
      if defined?(::ActiveSupport::Notifications)
        ::ActiveSupport::Notifications.instrument("#{event}.holdfast", payload, &block)
      elsif block
        block.call(payload)
      end
    end

    def log(level, message)
      Holdfast.logger&.public_send(level, "Holdfast: #{message}")
    end

    class << self
      # Runs the block as resumable work keyed by +key+ (Holdfast.resumable).
      # Returns a Result; raises Interrupted when stopped at a checkpoint,
      # and Continuation::StaleExecutionError when a newer run of the same
      # key took over.
      def start(key, restart: false, store: Holdfast.continuation_store, max_runtime: nil, interrupt_if: nil, &block)
        raise ArgumentError, "Holdfast.resumable needs a block" unless block
        unless key.is_a?(String) && !key.empty?
          raise ArgumentError, "the key must be a non-empty String, got #{key.inspect}"
        end
        unless store
          raise Holdfast::Error, "Holdfast.resumable needs a continuation store: set Holdfast.config.store " \
                                 "(or config.holdfast.store)"
        end

        new(key, store: store, max_runtime: max_runtime, interrupt_if: interrupt_if).perform(restart: restart, &block)
      end

      # Holdfast.resumable in a new thread; the thread's value is the Result
      # (or it raises Interrupted / StaleExecutionError when joined).
      def thread(key, **options, &block)
        Thread.new { Holdfast.resumable(key, **options, &block) }
      end

      # Defines a rake task whose body is resumable, keyed by the task's name
      # and arguments ("rake:backfill[2024]"). TERM or INT stops it at its
      # next checkpoint: the task exits 75 (try again) saying where it will
      # resume; run again, it resumes. A finished task says so and runs again
      # only with RESTART=1.
      #
      #   Holdfast::Resumable.task(:backfill_emails, [:since] => :environment) do |run, args|
      #     run.step(:copy, start: 0) { |step| ... }
      #   end
      def task(*args, &body)
        require "rake"
        ::Rake::Task.define_task(*args) do |task, task_args|
          values = task_args.to_a
          key = "rake:#{task.name}#{"[#{values.join(",")}]" unless values.empty?}"
          Holdfast.trap_signals!("TERM", "INT")
          run_task(key, task_args, body)
        end
      end

      def run_task(key, task_args, body)
        result = Holdfast.resumable(key, restart: ENV["RESTART"] == "1") { |run| body.call(run, task_args) }
        if result.status == :completed
          $stdout.puts "#{key}: completed"
        else
          $stdout.puts "#{key}: already completed at #{result.completed_at.utc.iso8601}; RESTART=1 runs it anew"
        end
      rescue Interrupted => e
        warn "#{e.message}"
        exit 75
      end

      # Rails.application.executor when there is an app, else Holdfast's.
      def wrapped(&block)
        executor = defined?(::Rails) && ::Rails.respond_to?(:application) && ::Rails.application&.executor
        (executor || Holdfast::Executor).wrap(&block)
      end
    end
  end
end
