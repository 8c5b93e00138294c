# frozen_string_literal: true

module Holdfast
  # API-compatible with ActiveSupport::Dependencies::Interlock: application
  # code runs holding a share ("running"); unloading (a reload) takes the
  # lock exclusively; on Rails <= 7.x apps, loading is exclusive among
  # loaders and permit_concurrent_loads lets loads happen around a wait.
  class Interlock
    attr_reader :lock

    def initialize(name: "Holdfast::Interlock")
      @lock = ShareLock.new(name: name)
    end

    def loading(&block)
      @lock.exclusive(purpose: :load, compatible: [:load], after_compatible: [:load], &block)
    end

    def unloading(&block)
      @lock.exclusive(purpose: :unload, compatible: %i[load unload], after_compatible: %i[load unload], &block)
    end

    def start_unloading
      @lock.start_exclusive(purpose: :unload, compatible: %i[load unload])
    end

    def done_unloading
      @lock.stop_exclusive(compatible: %i[load unload])
    end

    def start_running
      @lock.start_sharing
    end

    def done_running
      @lock.stop_sharing
    end

    def running(&block)
      @lock.sharing(&block)
    end

    def permit_concurrent_loads(&block)
      @lock.yield_shares(compatible: [:load], &block)
    end

    def raw_state(&block) # :nodoc:
      @lock.raw_state(&block)
    end

    def snapshot
      @lock.snapshot
    end

    # For +executor.register_hook(interlock.executor_hook, outer: true)+ (what
    # Rails registers in development): every execution holds the running
    # share. With a Holdfast executor the share is taken natively, with no
    # Ruby calls; with any other executor it is a plain run/complete hook.
    def executor_hook
      @executor_hook ||= @lock.executor_hook
    end
  end
end
