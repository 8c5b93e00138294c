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

  # Another process held the store's write lock past its busy timeout (it
  # is paused, stopped in a debugger, or its VM froze); nothing was written,
  # and trying again later is safe.
  class StoreBusyError < StoreError; end

  # The store's file exists but is not a Holdfast store; it was left alone.
  class NotADatabaseError < StoreError; end

  # The store's file, or a record in it, failed its integrity check
  # (SQLite's quick check at open, a checksum per record as it is read).
  # Nothing from it was returned; the message names the file and the job.
  class CorruptStoreError < StoreError; end

  # The store was closed.
  class StoreClosedError < StoreError; end

  # A write for a job whose record is gone (pruned).
  class RecordNotFoundError < StoreError; end

  # A job id, class name, step name or cursor over its size limit; nothing
  # was written.
  class LimitError < ArgumentError; end

  # Holdfast::Continuation is a class (lib/holdfast/continuation.rb). Its
  # errors load on first use (lib/holdfast/continuation/errors.rb): on
  # Active Job 8.1 and later the ones Rails has are Rails' own classes, so
  # `rescue Holdfast::Continuation::Interrupt` and
  # `rescue ActiveJob::Continuation::Interrupt` are the same thing there.
  class Continuation
    ERRORS = %i[Interrupt Error InvalidStepError CheckpointError UnadvanceableCursorError ResumeLimitError
                InvalidCursorError StaleExecutionError].freeze
    ERRORS.each { |name| autoload name, File.expand_path("continuation/errors", __dir__) }

    # Whether this process uses Rails' own continuations (Active Job 8.1+):
    # the Active Job that is loaded, or else the one `require` would load.
    # Asking loads nothing.
    def self.rails_continuations?
      if defined?(::ActiveJob::VERSION)
        ::ActiveJob.gem_version >= Gem::Version.new("8.1.0.alpha")
      else
        !$LOAD_PATH.resolve_feature_path("active_job/continuation").nil?
      end
    end
  end
end
