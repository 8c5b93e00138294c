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
