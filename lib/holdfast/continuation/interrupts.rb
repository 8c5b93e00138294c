# frozen_string_literal: true

module Holdfast
  class Continuation
    # Where a checkpoint asks whether to stop, in order: Holdfast's test
    # helper, the queue adapter's stopping?, Holdfast.stopping?, the job's
    # max_runtime, and its interrupt_if procs. true means :stopping; any
    # other truthy answer is the reason itself. (On Active Job 8.1+, Rails'
    # own checkpoint! asks the adapter, between the first and the rest.)
    module Interrupts
      module_function

      def reason_for(job, started_at)
        reason(test_override(job) || adapter_stopping?(job) || holdfast_sources(job, started_at))
      end

      # Everything after the adapter.
      def holdfast_reason(job, started_at)
        reason(holdfast_sources(job, started_at))
      end

      def test_override(job)
        matcher, reason = Thread.current[:holdfast_test_interrupt]
        matcher&.call(job) ? reason : nil
      end

      def reason(answer)
        return nil unless answer

        answer == true ? :stopping : answer
      end

      def holdfast_sources(job, started_at)
        Holdfast.stopping? || over_runtime(job, started_at) || interrupt_ifs(job)
      end

      def adapter_stopping?(job)
        adapter = job.class.queue_adapter
        case stopping_arity(adapter)
        when nil then false
        when 0 then adapter.stopping?
        else adapter.stopping?(job)
        end
      end

      # stopping?'s arity per adapter class (nil: it has none), looked up
      # once: a Method object per checkpoint would cost more than the call.
      def stopping_arity(adapter)
        ARITIES.fetch(adapter.class) do
          ARITIES[adapter.class] = adapter.respond_to?(:stopping?) ? adapter.method(:stopping?).arity : nil
        end
      end
      ARITIES = {} # filled as adapters are met

      def over_runtime(job, started_at)
        limit = job.class.respond_to?(:max_runtime) && job.class.max_runtime
        return nil unless limit && started_at

        elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started_at
        elapsed > limit.to_f ? :max_runtime : nil
      end

      def interrupt_ifs(job)
        return nil unless job.class.respond_to?(:__holdfast_interrupt_ifs)

        job.class.__holdfast_interrupt_ifs.lazy.map { |check| check.call(job) }.find(&:itself)
      end

      # Active Record, when loaded: any connection of this thread inside a
      # transaction.
      def open_transactions?
        return false unless defined?(::ActiveRecord::Base) && ::ActiveRecord::Base.respond_to?(:connection_handler)

        ::ActiveRecord::Base.connection_handler.connection_pool_list.any? do |pool|
          connection = pool.respond_to?(:active_connection) ? pool.active_connection : pool.active_connection?
          connection.respond_to?(:transaction_open?) && connection.transaction_open?
        end
      end
    end
  end
end
