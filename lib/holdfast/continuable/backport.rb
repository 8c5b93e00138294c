# frozen_string_literal: true

require_relative "../continuation"
require_relative "../continuation/interrupts"
require_relative "../continuation/durable"
require_relative "../continuation/unwind_report"
require_relative "../continuation/log_subscriber"
require_relative "extensions"

module Holdfast
  # Rails 8.1's ActiveJob::Continuable for Active Job 6.1 to 8.0, with
  # progress that also lives in a durable store (Holdfast.continuation_store)
  # so it survives SIGKILL, OOM kills and crashes, and with zombie
  # executions fenced off. See Holdfast::Continuation and the README.
  #
  #   class ImportJob < ApplicationJob
  #     include Holdfast::Continuable
  #
  #     def perform(import_id)
  #       step :validate { ... }
  #       step :process, start: 0 do |step|
  #         rows.where("id > ?", step.cursor).find_each { |row| row.process; step.advance! from: row.id }
  #       end
  #       step :finalize, isolated: true
  #     end
  #   end
  module Continuable
    def self.included(job_class)
      job_class.class_attribute :max_resumptions, instance_writer: false
      job_class.class_attribute :resume_options, instance_writer: false, default: { wait: 5.seconds }
      job_class.class_attribute :resume_errors_after_advancing, instance_writer: false, default: true
      Extensions.add_to(job_class)
      job_class.prepend(Initializer)
      job_class.around_perform(:__holdfast_continue)
    end

    module Initializer # :nodoc:
      def initialize(*arguments)
        super
        @resumptions = 0
        @continuation = Continuation.new(self)
      end
      ruby2_keywords(:initialize) if respond_to?(:ruby2_keywords, true)
    end

    # How many times this job was resumed.
    attr_accessor :resumptions
    attr_accessor :continuation # :nodoc:

    # Runs a step: the block (or the job's method of that name, taking 0 or
    # 1 argument), skipped when an earlier execution completed it.
    def step(step_name, start: nil, isolated: false, &block)
      block ||= method_step(step_name)
      checkpoint! if continuation.advanced?
      continuation.step(step_name, start: start, isolated: isolated, &block)
    end

    def serialize # :nodoc:
      super.merge("continuation" => continuation.to_h, "resumptions" => resumptions)
    end

    def deserialize(job_data) # :nodoc:
      super
      self.continuation = Continuation.from_payload(self, job_data.fetch("continuation", {}))
      self.resumptions = job_data.fetch("resumptions", 0)
    end

    # Records progress and stops the job if something asks it to.
    def checkpoint! # :nodoc:
      if Continuation::Interrupts.open_transactions?
        raise Continuation::CheckpointError, "Cannot checkpoint job with open transactions"
      end

      @__holdfast_durable&.record
      reason = Continuation::Interrupts.reason_for(self, @__holdfast_started_at)
      interrupt!(reason: reason) if reason
    end

    def interrupt!(reason:) # :nodoc:
      @__holdfast_durable&.record(interrupt: true)
      __holdfast_instrument(:interrupt, reason: reason, **continuation.instrumentation)
      raise Continuation::Interrupt, "Interrupted #{continuation.description} (#{reason})"
    end

    def __holdfast_instrument(event, payload, &block) # :nodoc:
      ::ActiveSupport::Notifications.instrument("#{event}.active_job",
                                                payload.merge(adapter: self.class.queue_adapter, job: self), &block)
    end

    # For Continuation::Durable: the progress as the store keeps it.
    def __holdfast_progress # :nodoc:
      continuation.to_store
    end

    # For Continuation::Durable: resume from the store's record.
    def __holdfast_adopt(record) # :nodoc:
      self.continuation = Continuation.from_record(self, record)
    end

    # [completed step names, current step name or nil, its cursor].
    def __holdfast_position # :nodoc:
      current = continuation.current
      [continuation.completed, current&.name, current&.cursor]
    end

    private

    def method_step(step_name)
      step_method = method(step_name)
      raise ArgumentError, "Step method '#{step_name}' must accept 0 or 1 arguments" if step_method.arity > 1
      if step_method.parameters.any? { |type, _| type == :key || type == :keyreq }
        raise ArgumentError, "Step method '#{step_name}' must not accept keyword arguments"
      end

      step_method.arity.zero? ? ->(_step) { step_method.call } : step_method
    end

    def __holdfast_continue
      @__holdfast_started_at = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      store = Holdfast.continuation_store
      @__holdfast_durable = store && Continuation::Durable.begin(self, store)
      return @__holdfast_durable.already_completed if @__holdfast_durable && !@__holdfast_durable.began?

      if continuation.started?
        self.resumptions += 1
        __holdfast_instrument(:resume, **continuation.instrumentation)
      end
      result = yield
      settled = true
      @__holdfast_durable&.complete
      result
    rescue Continuation::Interrupt => e
      settled = true
      __holdfast_resume(e)
    rescue Continuation::StaleExecutionError => e
      settled = true
      Continuation::Durable.superseded(self, e)
    rescue Continuation::Error
      settled = true
      raise
    rescue StandardError => e
      settled = true
      raise unless resume_errors_after_advancing? && continuation.advanced?

      @__holdfast_durable&.record(interrupt: true)
      # What Rails 8.1 hands on for an error (and so the key
      # exception_executions counts it under).
      __holdfast_resume({ exception: e })
    ensure
      # Not settled: Thread#kill, a process exit or a signal unwound it.
      @__holdfast_durable&.finish(abandoned: !settled)
    end

    # Counts an execution under the key Rails 8.1 uses (the interrupt's or
    # error Hash's to_s), then re-enqueues the job with its progress.
    def __holdfast_resume(exception)
      executions_for(exception)
      unless max_resumptions.nil? || resumptions < max_resumptions
        raise Continuation::ResumeLimitError, "Job was resumed a maximum of #{max_resumptions} times"
      end

      retry_job(**resume_options)
    end
  end
end
