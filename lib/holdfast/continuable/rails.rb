# frozen_string_literal: true

require "active_job/continuation"
require_relative "../continuation/cursor"
require_relative "../continuation/interrupts"
require_relative "../continuation/durable"
require_relative "../continuation/unwind_report"
require_relative "extensions"

module Holdfast
  # On Active Job 8.1 and later, Rails' own ActiveJob::Continuable runs the
  # steps; including Holdfast::Continuable includes it (one implementation
  # per job class) and adds Holdfast's interrupt sources (max_runtime,
  # interrupt_if). The store, fencing and Holdfast's stop signal come from
  # Continuation::RailsDurability, which backs every ActiveJob::Continuable
  # job once Holdfast is configured (the Railtie, Holdfast.configure, or
  # requiring this file).
  module Continuable
    def self.included(job_class)
      job_class.include(::ActiveJob::Continuable)
      Extensions.add_to(job_class)
    end
  end

  class Continuation
    # Prepended to ActiveJob::Continuable: every checkpoint also goes to the
    # store under its durability; the store's progress wins when it is ahead
    # of the payload; a zombie execution stops with StaleExecutionError (and
    # is not re-enqueued); Holdfast's interrupt sources are asked after the
    # queue adapter's stopping?.
    module RailsDurability
      # What this module overrides in Rails' ActiveJob::Continuable (8.1).
      OVERRIDES = %i[checkpoint! interrupt! continue resume_job].freeze

      def self.install!
        return if @installed

        @installed = true
        ::ActiveSupport.on_load(:active_job_continuable) do
          missing = OVERRIDES.reject { |name| method_defined?(name) || private_method_defined?(name) }
          unless missing.empty?
            raise UnsupportedVersionError,
                  "Holdfast cannot add durability to Active Job #{::ActiveJob.gem_version}'s ActiveJob::Continuable: " \
                  "it has no #{missing.join(", ")} (Holdfast knows Rails 8.1's), so its checkpoints could not be made " \
                  "durable. Use Rails 8.1, or report this with your Rails version"
          end
          prepend RailsDurability
        end
      end

      def checkpoint! # :nodoc:
        # Active Record's own check (prepended by its Railtie) may sit
        # outside this one; nothing is recorded inside a transaction either way.
        if Interrupts.open_transactions?
          raise CheckpointError, "Cannot checkpoint job with open transactions"
        end

        @__holdfast_durable&.record
        reason = Interrupts.test_override(self)
        interrupt!(reason: Interrupts.reason(reason)) if reason
        # Rails 8.2's own checkpoint! interrupts with the reason the
        # adapter's stopping?(job) gives (true means :stopping, anything
        # else truthy is the reason); 8.1's says :stopping whatever it was.
        # Before 8.2 Holdfast asks first (with the job where the adapter
        # takes one), so the reason reaches the event and the log there too.
        unless RailsDurability.adapter_reasons?
          reason = Interrupts.adapter_stopping?(self)
          interrupt!(reason: Interrupts.reason(reason)) if reason
        end
        super
        reason = Interrupts.holdfast_reason(self, @__holdfast_started_at)
        interrupt!(reason: reason) if reason
      end

      def interrupt!(reason:) # :nodoc:
        @__holdfast_durable&.record(interrupt: true)
        super
      end

      # Whether Rails' own checkpoint! passes on stopping?(job)'s reason
      # (8.2) rather than always :stopping (8.1).
      def self.adapter_reasons?
        return @adapter_reasons unless @adapter_reasons.nil?

        @adapter_reasons = ::ActiveJob.gem_version >= Gem::Version.new("8.2.0.alpha")
      end

      # Whether Rails' Continuation serializes cursors itself (Rails 8.2: its
      # to_h holds a cursor's Active Job serialization, and it deserializes
      # what it is given) rather than keeping them as they are (8.1).
      def self.serialized_cursors?
        return @serialized_cursors unless @serialized_cursors.nil?

        @serialized_cursors = ::ActiveJob::Continuation.private_method_defined?(:serialized_current)
      end

      # For Continuation::Durable: the progress as the store keeps it.
      def __holdfast_progress # :nodoc:
        data = continuation.to_h
        name, cursor = data["current"]
        stored = if cursor.nil? then nil
                 elsif RailsDurability.serialized_cursors?
                   Cursor.dump_serialized(cursor, continuation.send(:current)&.cursor)
                 else Cursor.dump(cursor)
                 end
        [data.fetch("completed", []), data.key?("current") ? [name, stored] : nil]
      rescue ::ActiveJob::SerializationError => e
        raise Cursor.invalid(continuation.send(:current)&.cursor, e)
      rescue SystemStackError
        raise Cursor.recursive(continuation.send(:current)&.cursor)
      end

      # For Continuation::Durable: resume from the store's record.
      def __holdfast_adopt(record) # :nodoc:
        progress = { "completed" => record["completed"] }
        name, cursor = record["current"]
        if name
          # Rails 8.2's Continuation decodes the serialization itself.
          value = if cursor.nil? then nil
                  elsif RailsDurability.serialized_cursors? then JSON.parse(cursor).first
                  else Cursor.load(cursor)
                  end
          progress["current"] = [name, value]
        end
        self.continuation = ::ActiveJob::Continuation.new(self, progress)
      end

      # [completed step names, current step name or nil, its cursor].
      def __holdfast_position # :nodoc:
        data = continuation.to_h
        name, cursor = data["current"]
        # Rails 8.2's to_h holds the serialization; its step has the value.
        cursor = continuation.send(:current)&.cursor if RailsDurability.serialized_cursors?
        [data.fetch("completed", []).map(&:to_sym), name&.to_sym, cursor]
      end

      private

      def continue(&block)
        @__holdfast_started_at = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        @__holdfast_resumed = false
        store = Holdfast.continuation_store
        @__holdfast_durable = store && Durable.begin(self, store)
        return @__holdfast_durable.already_completed if @__holdfast_durable && !@__holdfast_durable.began?

        result = super
        settled = true
        @__holdfast_durable&.complete unless @__holdfast_resumed
        result
      rescue StaleExecutionError => e
        settled = true
        Durable.superseded(self, e)
      rescue StandardError
        settled = true
        raise
      ensure
        # Not settled: Thread#kill, a process exit or a signal unwound it.
        @__holdfast_durable&.finish(abandoned: !settled)
      end

      # Rails calls this to re-enqueue the job after an interrupt, or after
      # an error once the job had advanced (then with { exception: error }).
      def resume_job(exception)
        error = exception.is_a?(Hash) ? exception[:exception] : exception
        # A zombie must stop, not come back as one more execution.
        raise error if error.is_a?(StaleExecutionError)

        @__holdfast_durable&.record(interrupt: true) unless error.is_a?(Interrupt)
        @__holdfast_resumed = true
        super
      end
    end
  end
end

Holdfast::Continuation::RailsDurability.install!
