# frozen_string_literal: true

require "active_support/log_subscriber"
require "active_job/log_subscriber"

module Holdfast
  class Continuation
    # The log lines Rails 8.1 prints for continuation events, byte for byte
    # (cursors with to_s, durations rounded to 2 places), for Active Job
    # versions whose own log subscriber does not print them.
    class LogSubscriber < ::ActiveSupport::LogSubscriber
      def step_started(event)
        job = event.payload[:job]
        step = event.payload[:step]
        info do
          if step.resumed?
            "Step '#{step.name}' resumed from cursor '#{step.cursor}' for #{job_label(job)}"
          else
            "Step '#{step.name}' started for #{job_label(job)}"
          end
        end
      end

      def step(event)
        job = event.payload[:job]
        step = event.payload[:step]
        took = "#{event.duration.round(2)}ms"
        if event.payload[:interrupted]
          info { "Step '#{step.name}' interrupted at cursor '#{step.cursor}' for #{job_label(job)} in #{took}" }
        elsif event.payload[:exception]
          error_class, message = event.payload[:exception]
          error do
            "Error during step '#{step.name}' at cursor '#{step.cursor}' for #{job_label(job)} in #{took}: " \
              "#{error_class} (#{message})"
          end
        else
          info { "Step '#{step.name}' completed for #{job_label(job)} in #{took}" }
        end
      end

      def step_skipped(event)
        info { "Step '#{event.payload[:step]}' skipped #{event.payload[:job].class.name}" }
      end

      def interrupt(event)
        payload = event.payload
        info { "Interrupted #{job_label(payload[:job])} #{payload[:description]} (#{payload[:reason]})" }
      end

      def resume(event)
        info { "Resuming #{job_label(event.payload[:job])} #{event.payload[:description]}" }
      end

      def logger
        ::ActiveJob::Base.logger
      end

      private

      def job_label(job)
        "#{job.class.name} (Job ID: #{job.job_id})"
      end
    end

    # Rails 8.1 logs these itself; elsewhere, Holdfast does.
    unless ::ActiveJob::LogSubscriber.method_defined?(:step_started)
      LogSubscriber.attach_to(:active_job)
    end
  end
end
