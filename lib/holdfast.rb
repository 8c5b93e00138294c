# frozen_string_literal: true

require_relative "holdfast/version"
require_relative "holdfast/errors"
require_relative "holdfast/holdfast"
require_relative "holdfast/error_reporter"
require_relative "holdfast/callbacks"
require_relative "holdfast/execution_wrapper"
require_relative "holdfast/executor"
require_relative "holdfast/wrapped_pool"

# Holdfast: Rails' executor, interlock and durable job continuations on a
# Rust core. See README.md.
module Holdfast
  class << self
    # The reporter executors use when ActiveSupport has none (Rails < 7.0,
    # or no ActiveSupport at all).
    def error_reporter
      @error_reporter ||= ErrorReporter.new
    end

    attr_writer :error_reporter
  end
end
