# frozen_string_literal: true

# Backs ActiveSupport's executor, reloader, share lock and load interlock
# with Holdfast's core, keeping ActiveSupport's constants and classes:
#
#   require "holdfast/active_support"
#
# ActiveSupport::ExecutionWrapper and every subclass (ActiveSupport::Executor,
# ActiveSupport::Reloader, Rails.application.executor and .reloader, classes
# an app makes) run their executions in the core; ActiveSupport::Concurrency::
# ShareLock instances, and so ActiveSupport::Dependencies.interlock, lock in
# the core. Classes and locks that exist already are adopted, with their
# callbacks. Requiring this twice is harmless.
require "active_support"
require "active_support/version"
require_relative "../holdfast"

module Holdfast
  # Installs and reports the backing of ActiveSupport's classes.
  module ActiveSupport
    # Guarded so a second `load` of this file stays quiet.
    # The versions bin/matrix proves (6.1, 7.0, 7.1, 7.2, 8.0, 8.1).
    SUPPORTED = Gem::Requirement.new(">= 6.1", "< 8.2").freeze unless const_defined?(:SUPPORTED)

    class << self
      def installed?
        @installed == true
      end

      # Checks the version first, so an unsupported ActiveSupport is left
      # untouched rather than half backed.
      def install!
        return false if installed?

        version = ::ActiveSupport.gem_version
        unless SUPPORTED.satisfied_by?(version)
          raise UnsupportedVersionError,
                "holdfast/active_support backs ActiveSupport #{SUPPORTED} (Rails 6.1 to 8.1), but this process " \
                "loaded ActiveSupport #{version}. Nothing was changed: use Holdfast::Executor and friends " \
                "directly, or run a supported Rails"
        end

        require "active_support/execution_wrapper"
        require "active_support/executor"
        require "active_support/reloader"
        require "active_support/concurrency/share_lock"
        require "active_support/dependencies"
        Executors.back(::ActiveSupport::ExecutionWrapper)
        ShareLocks.back(::ActiveSupport::Concurrency::ShareLock)
        follow_isolation_level
        @installed = true
      end

      private

      # Active Support 7.0+ keeps an execution's "active" state per Thread or
      # per Fiber (config.active_support.isolation_level); the backed
      # executors follow the same setting, now and whenever it changes.
      def follow_isolation_level
        return unless defined?(::ActiveSupport::IsolatedExecutionState.isolation_level)

        Holdfast::IsolatedExecutionState.isolation_level = ::ActiveSupport::IsolatedExecutionState.isolation_level
        ::ActiveSupport::IsolatedExecutionState.singleton_class.prepend(FollowIsolationLevel)
      end
    end

    # Prepended to ActiveSupport::IsolatedExecutionState's singleton class.
    module FollowIsolationLevel
      def isolation_level=(level)
        super
        Holdfast::IsolatedExecutionState.isolation_level = level
      end
    end
  end
end

require_relative "active_support/callback_chains"
require_relative "active_support/executors"
require_relative "active_support/share_locks"
Holdfast::ActiveSupport.install!
