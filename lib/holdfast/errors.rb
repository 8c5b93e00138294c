# frozen_string_literal: true

module Holdfast
  # Base class of Holdfast's own errors.
  class Error < StandardError; end

  # complete! on an execution that is not running: it completed already, or
  # run!(reset: true) completed it as lost.
  class AlreadyCompletedError < Error; end

  # post or future on a pool after shutdown.
  class PoolShutdownError < Error; end
end

module Holdfast
  # A lock wait that would never end: the message names every thread in the
  # cycle, what each holds and waits for, and how to fix it.
  class DeadlockError < Error; end

  # A lock wait that ran past its timeout; the message says who holds what.
  class LockTimeout < Error; end

  # holdfast/active_support was required with an ActiveSupport version it
  # does not back. Raised before anything is changed.
  class UnsupportedVersionError < Error; end

  # Application code ran on a thread outside the app's executor, with
  # config.holdfast.unwrapped_code = :raise.
  class UnwrappedCodeError < Error; end
end
