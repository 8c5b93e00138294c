# frozen_string_literal: true

module Holdfast
  class << self
    # The interlock Holdfast::Reloader unloads through. Executors whose
    # executions must keep a reload out register its hook:
    #
    #   Holdfast::Executor.register_hook(Holdfast.interlock.executor_hook, outer: true)
    attr_accessor :interlock
  end
  self.interlock = Interlock.new(name: "Holdfast.interlock")

  # API-compatible with ActiveSupport::Reloader: an executor whose run and
  # complete callbacks only happen around an execution that reloads (when
  # +check+ says code changed), plus the prepare and class-unload chains.
  #
  #   to_prepare          -- once at boot (prepare!) and after each reload
  #   to_run/to_complete  -- around an execution that reloads
  #   before_class_unload / after_class_unload -- around class_unload!
  #
  # A reload takes the interlock's unload lock, so it waits until no other
  # thread is inside an execution that holds the interlock's running share.
  class Reloader < ExecutionWrapper
    @__holdfast_prepare = Native::ExecutorCore.new
    @__holdfast_class_unload = Native::ExecutorCore.new
    @executor = Executor
    @check = -> { false }
    @interlock = nil

    class << self
      def inherited(other) # :nodoc:
        super
        other.instance_variable_set(:@__holdfast_prepare, @__holdfast_prepare.subclass)
        other.instance_variable_set(:@__holdfast_class_unload, @__holdfast_class_unload.subclass)
      end

      # Class attributes, inherited until a subclass sets its own (as
      # ActiveSupport's class_attribute): the executor a reload runs
      # inside, the callable that says whether code changed, and the
      # interlock (Holdfast.interlock unless set).
      %i[executor check interlock].each do |attribute|
        define_method(attribute) do
          if instance_variable_defined?(:"@#{attribute}")
            instance_variable_get(:"@#{attribute}")
          else
            superclass.public_send(attribute)
          end
        end
        define_method(:"#{attribute}=") { |value| instance_variable_set(:"@#{attribute}", value) }
      end

      # Registers a callback that runs once at boot (prepare!) and after
      # every reload.
      def to_prepare(*args, &block)
        Callbacks.register(@__holdfast_prepare, :run, args, block, "to_prepare")
      end

      # Registers a callback that runs just before classes are unloaded.
      def before_class_unload(*args, &block)
        Callbacks.register(@__holdfast_class_unload, :run, args, block, "before_class_unload")
      end

      # Registers a callback that runs just after classes are unloaded.
      def after_class_unload(*args, &block)
        Callbacks.register(@__holdfast_class_unload, :complete, [:after, *args], block, "after_class_unload")
      end

      # Reloads now, whatever +check+ says: one reloading execution inside
      # the executor, then the prepare callbacks.
      def reload!
        executor.wrap do
          instance = new
          begin
            instance.run!
          ensure
            instance.complete!
          end
        end
        prepare!
      end

      # An execution that reloads, or Null when nothing changed.
      def run!(reset: false)
        check! ? super : self::Null
      end

      # Runs the block inside the executor, reloading first when code
      # changed.
      def wrap(source: "application.active_support")
        return yield if active?

        executor.wrap(source: source) do
          instance = run!
          begin
            yield
          ensure
            instance.complete!
          end
        end
      end

      def check! # :nodoc:
        @should_reload ||= check.call
      end

      def reloaded! # :nodoc:
        @should_reload = false
      end

      def prepare! # :nodoc:
        @__holdfast_prepare.run_chain_on(new, :run)
      end

      def __holdfast_class_unload_chain # :nodoc:
        @__holdfast_class_unload
      end
    end

    to_run(:after) { self.class.prepare! }

    def initialize
      super
      @locked = false
    end

    # Takes the interlock's unload lock (once), waiting for every other
    # execution holding the running share to finish. Released when this
    # execution's run! or complete! ends.
    def require_unload_lock!
      return if @locked

      unload_interlock.start_unloading
      @locked = true
    end

    # Releases the unload lock if this execution took it.
    def release_unload_lock!
      return unless @locked

      @locked = false
      unload_interlock.done_unloading
    end

    def run! # :nodoc:
      super
      release_unload_lock!
    end

    # Unloads under the unload lock: before_class_unload callbacks, the
    # block, then after_class_unload callbacks.
    def class_unload!
      require_unload_lock!
      chain = self.class.__holdfast_class_unload_chain
      chain.run_chain_on(self, :run)
      yield if block_given?
      chain.run_chain_on(self, :complete)
    end

    def complete! # :nodoc:
      super
      self.class.reloaded!
    ensure
      release_unload_lock!
    end

    private

    def unload_interlock
      self.class.interlock || Holdfast.interlock
    end
  end
end
