# frozen_string_literal: true

require "rbconfig"
require_relative "holdfast/version"
require_relative "holdfast/errors"
require_relative "holdfast/extension"
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
require_relative "holdfast/lock_snapshots"
require_relative "holdfast/long_wait"
require_relative "holdfast/store"
require_relative "holdfast/configuration"
require_relative "holdfast/stopping"
require_relative "holdfast/recovery"
require_relative "holdfast/backends"

# Holdfast: Rails' executor, interlock and durable job continuations on a
# Rust core. See README.md.
module Holdfast
  # Loads Active Job when first used (include Holdfast::Continuable).
  autoload :Continuable, File.expand_path("holdfast/continuable", __dir__)
  # The Rack dashboard loads Rack; only apps that mount it pay for that.
  autoload :Dashboard, File.expand_path("holdfast/dashboard", __dir__)
  # Resumable work outside Active Job; loads Active Job's argument
  # serialization for its cursors.
  autoload :Resumable, File.expand_path("holdfast/resumable", __dir__)

  # Runs the block as resumable work keyed by +key+: see Holdfast::Resumable.
  def self.resumable(key, **options, &block)
    Resumable.start(key, **options, &block)
  end

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
