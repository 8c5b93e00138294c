# frozen_string_literal: true

module Holdfast
  class << self
    # Where Holdfast logs (a Logger-like object). nil writes warnings to $stderr.
    attr_accessor :logger

    # Holdfast.lock_wait_threshold = seconds (nil: off, the default) is
    # defined natively: a lock wait that lasts that long is reported once,
    # while it goes on waiting, as an ActiveSupport::Notifications event
    # "long_wait.holdfast" (payload: lock, waited, message) when
    # ActiveSupport::Notifications is loaded, and as a log line.

    # Called by the native wait, with interrupts deferred so that a
    # Thread#kill arriving now is not swallowed here.
    def __long_lock_wait(lock, waited, message) # :nodoc:
      Thread.handle_interrupt(Object => :never) do
        line = format("Holdfast: waited %.2fs for %s so far: %s", waited, lock, message)
        if defined?(::ActiveSupport::Notifications)
          ::ActiveSupport::Notifications.instrument("long_wait.holdfast", lock: lock, waited: waited, message: message)
        end
        logger ? logger.warn(line) : warn(line)
      rescue StandardError => e
        warn("Holdfast: reporting a long lock wait failed: #{e.class}: #{e.message}")
      end
      nil
    end
  end
end
