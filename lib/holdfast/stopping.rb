# frozen_string_literal: true

# Loaded with the gem (not with Active Job), so an initializer can call
# Holdfast.trap_signals! before any job class loads.
module Holdfast
  class << self
    # Asks every continuable job in this process to stop at its next
    # checkpoint (reason :stopping); they are re-enqueued with their progress.
    def stop!
      @stopping = true
    end

    def stopping?
      @stopping == true
    end

    # Clears stop! (for tests, or a process that goes on working).
    def resume!
      @stopping = false
    end

    # Installs handlers for the signals (e.g. "TERM", "INT") that call
    # stop! and then the handler that was there before, if it was a Ruby
    # one. A default or ignored disposition is not chained: the process
    # keeps running and the jobs stop at their next checkpoint, so whatever
    # runs them decides when to exit.
    def trap_signals!(*signals)
      signals.flatten.each do |signal|
        previous = nil
        previous = Signal.trap(signal) do |number|
          stop!
          previous.call(number) if previous.respond_to?(:call)
        end
      end
      nil
    end
  end
end
