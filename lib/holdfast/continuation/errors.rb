# frozen_string_literal: true

module Holdfast
  class Continuation
    if rails_continuations?
      require "active_job"
      require "active_job/continuation"
      Interrupt = ::ActiveJob::Continuation::Interrupt
      Error = ::ActiveJob::Continuation::Error
      InvalidStepError = ::ActiveJob::Continuation::InvalidStepError
      CheckpointError = ::ActiveJob::Continuation::CheckpointError
      UnadvanceableCursorError = ::ActiveJob::Continuation::UnadvanceableCursorError
      ResumeLimitError = ::ActiveJob::Continuation::ResumeLimitError
    else
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

      # An interrupt would exceed max_resumptions.
      class ResumeLimitError < Error; end
    end

    # A cursor Active Job cannot serialize (the store keeps cursors as Active
    # Job serializes arguments, so they come back as the same type).
    class InvalidCursorError < Error; end

    # A newer execution of the same job owns its progress: this one must
    # stop without writing (nothing was written).
    class StaleExecutionError < Error; end
  end
end
