# frozen_string_literal: true

require "active_job/test_helper"
require_relative "../continuable"

module Holdfast
  class Continuation
    # Stops continuable jobs at chosen points while a block runs (usually
    # perform_enqueued_jobs), as Rails 8.1's ActiveJob::Continuation::TestHelper
    # does, on any Active Job adapter and with Rails' continuations as well
    # as Holdfast's.
    #
    #   interrupt_job_during_step(ImportJob, :process, cursor: 40) { perform_enqueued_jobs }
    #   interrupt_job_after_step(ImportJob, :validate) { perform_enqueued_jobs }
    module TestHelper
      include ::ActiveJob::TestHelper

      # Jobs of +job+'s class stop at the first checkpoint inside +step+
      # with the cursor at +cursor+. +reason+: true (:stopping) or a reason.
      def interrupt_job_during_step(job, step, cursor: nil, reason: true, &block)
        matcher = lambda do |running|
          _completed, current, at = running.__holdfast_position
          running.is_a?(job) && current == step.to_sym && at == cursor
        end
        interrupting(matcher, reason, &block)
      end

      # Jobs of +job+'s class stop at the checkpoint right after +step+
      # completed. The last step has no checkpoint after it.
      def interrupt_job_after_step(job, step, reason: true, &block)
        matcher = lambda do |running|
          completed, current, _at = running.__holdfast_position
          running.is_a?(job) && completed.last == step.to_sym && current.nil?
        end
        interrupting(matcher, reason, &block)
      end

      private

      def interrupting(matcher, reason)
        previous = Thread.current[:holdfast_test_interrupt]
        Thread.current[:holdfast_test_interrupt] = [matcher, reason]
        yield
      ensure
        Thread.current[:holdfast_test_interrupt] = previous
      end
    end
  end
end
