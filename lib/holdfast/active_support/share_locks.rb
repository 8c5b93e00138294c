# frozen_string_literal: true

module Holdfast
  module ActiveSupport
    # Makes ActiveSupport::Concurrency::ShareLock instances lock in the core:
    # each gets a Holdfast::ShareLock and every public method delegates to
    # it. Locks that exist already (ActiveSupport::Dependencies.interlock's)
    # are adopted if nobody holds them; a lock held at install time keeps
    # ActiveSupport's Ruby implementation, since its state cannot move.
    module ShareLocks
      module_function

      def back(klass)
        klass.prepend(Delegation)
        ObjectSpace.each_object(klass) { |lock| lock.__holdfast_adopt }
      end

      module Delegation
        def initialize(*)
          super
          @__holdfast = Holdfast::ShareLock.new(name: "#{self.class.name}#{format(":0x%x", object_id)}")
        end

        def __holdfast_adopt # :nodoc:
          return if defined?(@__holdfast) && @__holdfast

          idle = @exclusive_thread.nil? && @sharing.empty? && @waiting.empty?
          @__holdfast = Holdfast::ShareLock.new(name: "#{self.class.name}#{format(":0x%x", object_id)}") if idle
        end

        # The Holdfast lock behind this one (nil for a lock that was held
        # when Holdfast was installed).
        def holdfast_lock
          @__holdfast
        end

        def start_exclusive(purpose: nil, compatible: [], no_wait: false)
          lock = @__holdfast
          lock ? lock.start_exclusive(purpose: purpose, compatible: compatible, no_wait: no_wait) : super
        end

        def stop_exclusive(compatible: [])
          lock = @__holdfast
          lock ? lock.stop_exclusive(compatible: compatible) : super
        end

        def start_sharing
          lock = @__holdfast
          lock ? lock.start_sharing : super
        end

        def stop_sharing
          lock = @__holdfast
          lock ? lock.stop_sharing : super
        end

        def exclusive(purpose: nil, compatible: [], after_compatible: [], no_wait: false, &block)
          lock = @__holdfast
          return super unless lock

          lock.exclusive(purpose: purpose, compatible: compatible, after_compatible: after_compatible,
                         no_wait: no_wait, &block)
        end

        def sharing(&block)
          lock = @__holdfast
          lock ? lock.sharing(&block) : super
        end

        def yield_shares(purpose: nil, compatible: [], block_share: false, &block)
          lock = @__holdfast
          return super unless lock

          lock.yield_shares(purpose: purpose, compatible: compatible, block_share: block_share, &block)
        end

        def raw_state(&block)
          lock = @__holdfast
          lock ? lock.raw_state(&block) : super
        end
      end
    end
  end
end
