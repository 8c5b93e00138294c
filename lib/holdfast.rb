# frozen_string_literal: true

require "rbconfig"
require_relative "holdfast/version"
require_relative "holdfast/errors"
# From a checkout (`rake compile`) the extension sits beside this file; an
# installed gem keeps it in the gem's extension directory on the load path.
if File.exist?(File.join(__dir__, "holdfast", "holdfast.#{RbConfig::CONFIG["DLEXT"]}"))
  require_relative "holdfast/holdfast"
else
  require "holdfast/holdfast"
end
require_relative "holdfast/error_reporter"
require_relative "holdfast/callbacks"
require_relative "holdfast/executor_methods"
require_relative "holdfast/execution_wrapper"
require_relative "holdfast/executor"
require_relative "holdfast/wrapped_pool"
require_relative "holdfast/share_lock"
require_relative "holdfast/interlock"
require_relative "holdfast/reloader"
require_relative "holdfast/lock_dump"
require_relative "holdfast/long_wait"
require_relative "holdfast/store"
require_relative "holdfast/configuration"
# Holdfast::Continuable needs Active Job: `require "holdfast/continuable"`
# (the Railtie does it when Active Job is loaded).

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

# Required after Rails (as Bundler.require does), the gem brings its Railtie.
require_relative "holdfast/railtie" if defined?(::Rails::Railtie)
