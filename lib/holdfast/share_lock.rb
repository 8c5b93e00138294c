# frozen_string_literal: true

module Holdfast
  # API-compatible with ActiveSupport::Concurrency::ShareLock (Rails 6.1 to
  # 8.1), on the Rust core. Waits release the GVL and end promptly on
  # Thread#kill, Thread#raise, Timeout and Ctrl-C; a wait that would deadlock
  # raises Holdfast::DeadlockError; waits accept a timeout.
  #
  # Defined natively (ext/holdfast/src/share_lock.rs), for speed or because
  # they only read the lock:
  #
  # - #exclusive(purpose: nil, compatible: [], after_compatible: [], no_wait: false, timeout: nil) { }:
  #   the block's value; nil without running it if +no_wait+ and the lock is
  #   busy; Holdfast::LockTimeout when +timeout+ (seconds) runs out.
  # - #sharing(timeout: nil) { }: the block's value.
  # - #stop_sharing, #snapshot, #waiting_on(thread) { }, #name, #executor_hook.
  class ShareLock
    class << self
      # Process-wide default for new locks: true raises DeadlockError for a
      # wait that would never end; false waits, as Rails' ShareLock does.
      attr_accessor :detect_deadlocks
    end
    self.detect_deadlocks = ENV.fetch("HOLDFAST_DETECT_DEADLOCKS", "1") != "0"

    def initialize(name: nil, detect_deadlocks: ShareLock.detect_deadlocks)
      self.__holdfast_name = name || "#{self.class.name}#{format(":0x%x", object_id)}"
      self.detect_deadlocks = detect_deadlocks ? true : false
    end

    # Returns true once the lock is held; false if +no_wait+ and the lock is
    # busy, or if the +timeout+ (seconds) runs out.
    def start_exclusive(purpose: nil, compatible: [], no_wait: false, timeout: nil)
      __start_exclusive(purpose, compatible, no_wait ? true : false, timeout)
    rescue LockTimeout
      false
    end

    # Raises "invalid unlock" when the caller does not hold the exclusive lock.
    def stop_exclusive(compatible: [])
      __stop_exclusive(compatible)
    end

    # Returns the caller's share count, or false if the +timeout+ runs out.
    def start_sharing(timeout: nil)
      __start_sharing(timeout)
    rescue LockTimeout
      false
    end

    # Gives up the caller's shares while the block runs, so exclusive
    # attempts whose purpose is in +compatible+ can proceed.
    def yield_shares(purpose: nil, compatible: [], block_share: false)
      token = __yield_begin(purpose, compatible, block_share ? true : false)
      begin
        yield
      ensure
        __yield_end(token)
      end
    end

    # Yields Rails' raw_state data (a Hash keyed by Thread, or by Fiber under
    # fiber isolation) and returns the block's value. Unlike Rails, the lock
    # keeps running while the block does: the data is a copy. Each entry
    # names its owner as the loaded Active Support does: :owner from 8.2
    # (its ShareLock keys owners by execution context), :thread before.
    def raw_state
      data = __raw_state
      if ShareLock.owner_keyed?
        data.transform_values! { |entry| { owner: entry[:thread] }.merge!(entry.except(:thread)) }
      end
      yield data
    end

    def self.owner_keyed? # :nodoc:
      defined?(::ActiveSupport::Concurrency::ShareLock) &&
        ::ActiveSupport::Concurrency::ShareLock.private_method_defined?(:current_owner)
    end

    def inspect
      "#<#{self.class.name} #{name}>"
    end
  end
end
