# frozen_string_literal: true

require "active_support/notifications"

module Holdfast
  class Continuation
    # Thread#kill, and a process exiting under a job's worker thread, unwind
    # the job without an exception. Active Job's own perform and step events
    # would then end like successes and their log lines (Rails' and ours) say
    # "Performed" and "Step ... completed" for work left half done. An event
    # that ends that way is marked instead: payload[:unwound] for Holdfast's
    # log subscriber, and an Unwound exception object for every other one,
    # so Rails' lines read "Error performing ..." / "Error during step ...".
    #
    # Prepended to ActiveSupport::Notifications::Instrumenter because that is
    # the one place every supported Active Job passes the payload it
    # publishes (6.1 and 7.0 copy it before the job's own instrument block).
    module UnwindReport
      # The events that mean "this job's work finished".
      EVENTS = { "perform.active_job" => true, "step.active_job" => true }.freeze

      # Raised by nobody: it names what happened in the payload of an event
      # its thread's unwinding ended.
      class Unwound < Exception; end # rubocop:disable Lint/InheritException

      MESSAGE = "its thread was killed or the process exited before it finished"

      def self.install!
        return if ::ActiveSupport::Notifications::Instrumenter.include?(self)

        ::ActiveSupport::Notifications::Instrumenter.prepend(self)
      end

      # A thread unwinding for Thread#kill or exit reports "aborting"; an
      # exception or throw unwinds with the thread still "run".
      def self.unwinding?
        $!.nil? && Thread.current.status == "aborting"
      end

      def self.mark(payload)
        error = Unwound.new(MESSAGE)
        # Log subscribers clean an error's backtrace: where it was unwound.
        error.set_backtrace(caller(1))
        payload[:unwound] = true
        payload[:exception] = [error.class.name, error.message]
        payload[:exception_object] = error
      end

      def instrument(name, payload = {}, &block)
        return super unless block && EVENTS.key?(name)

        super(name, payload) do |published|
          block.call(published)
        ensure
          UnwindReport.mark(published) if published.is_a?(Hash) && UnwindReport.unwinding?
        end
      end
    end
  end
end

Holdfast::Continuation::UnwindReport.install!
