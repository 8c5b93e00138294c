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

  # The continuation store could not read or write (disk full, permissions,
  # the database went away). The message names the store (never a password).
  class StoreError < Error; end

  # The store's file exists but is not a Holdfast store; it was left alone.
  class NotADatabaseError < StoreError; end

  # The store was closed.
  class StoreClosedError < StoreError; end

  # A write for a job whose record is gone (pruned).
  class RecordNotFoundError < StoreError; end

  # A job id, class name, step name or cursor over its size limit; nothing
  # was written.
  class LimitError < ArgumentError; end

  # Holdfast::Continuation is a class (lib/holdfast/continuation.rb); its
  # errors are defined here so the store can raise them without Active Job.
  class Continuation
    # Raised at a checkpoint to stop the job so it is re-enqueued with its
    # progress. An Exception, not a StandardError: `rescue => e` does not
    # swallow it.
    class Interrupt < Exception; end # rubocop:disable Lint/InheritException

    # Base class of the continuation errors.
    class Error < StandardError; end

    # A step declared wrongly (see the messages).
    class InvalidStepError < Error; end

    # A checkpoint inside an open database transaction.
    class CheckpointError < Error; end

    # advance! on a cursor without #succ.
    class UnadvanceableCursorError < Error; end

    # A cursor Active Job cannot serialize.
    class InvalidCursorError < Error; end

    # An interrupt would exceed max_resumptions.
    class ResumeLimitError < Error; end

    # A newer execution of the same job owns its progress: this one must
    # stop without writing (nothing was written).
    class StaleExecutionError < Error; end
  end
end
