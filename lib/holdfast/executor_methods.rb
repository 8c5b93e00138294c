# frozen_string_literal: true

module Holdfast
  # The class-level API of an executor (ActiveSupport::ExecutionWrapper's,
  # Rails 8.1 API). Holdfast::ExecutionWrapper extends it; with
  # `holdfast/active_support`, ActiveSupport::ExecutionWrapper's singleton
  # class prepends it. Defined natively (ext/holdfast/src/executor/):
  #
  # - wrap(source: "application.active_support") { ... }
  # - active?
  # - perform { ... }
  module ExecutorMethods
    # Which error reporters accept report(..., source:), per reporter class.
    module ErrorReporting
      @takes_source = {}

      def self.takes_source?(reporter)
        @takes_source.fetch(reporter.class) do
          parameters = reporter.method(:report).parameters
          @takes_source[reporter.class] = parameters.any? { |type, name| type == :keyrest || name == :source }
        end
      end
    end

    def inherited(other) # :nodoc:
      super
      other.instance_variable_set(:@__holdfast_core, @__holdfast_core.subclass)
    end

    def to_run(*args, &block)
      Callbacks.register(@__holdfast_core, :run, args, block)
    end

    def to_complete(*args, &block)
      Callbacks.register(@__holdfast_core, :complete, args, block)
    end

    # ActiveSupport::Callbacks' generic form, for the two chains executors
    # have; other chains go to the class's own set_callback, if any.
    def set_callback(name, *args, &block)
      case name
      when :run then to_run(*args, &block)
      when :complete then to_complete(*args, &block)
      else
        return super if defined?(super)

        raise ArgumentError, "No callback chain named #{name.inspect}: executors have :run and :complete"
      end
    end

    # Registers an object whose +run+ is called before the work and whose
    # +complete(state)+ gets what +run+ returned. +complete+ is skipped when
    # +run+ never happened (an earlier run callback raised). An +outer+ hook
    # runs before, and completes after, everything else.
    def register_hook(hook, outer: false)
      missing = %i[run complete].reject { |m| hook.respond_to?(m) }
      unless missing.empty?
        raise ArgumentError, "#{hook.inspect} cannot be an executor hook: it does not respond to " \
                             "#{missing.map { |m| "##{m}" }.join(" and ")} (a hook needs run and complete(state))"
      end
      @__holdfast_core.register_hook(hook, outer ? true : false)
    end

    # Starts an execution on the current thread (or fiber). Returns an
    # instance whose complete! must be called exactly once; returns Null
    # when this context is already inside an execution. With +reset+, a lost
    # execution on this context is completed first.
    def run!(reset: false)
      __holdfast_run(reset ? true : false) || self::Null
    end

    # Active Support's reporter (Rails.error) from 7.1 on; on 7.0, that one
    # once a Rails app has set it, else this class's own (as 7.0 has one per
    # executor class); Holdfast.error_reporter on 6.1 or without Active Support.
    def error_reporter
      return Holdfast.error_reporter unless defined?(::ActiveSupport::ErrorReporter) &&
                                            ::ActiveSupport.respond_to?(:error_reporter)

      ::ActiveSupport.error_reporter || (@__holdfast_error_reporter ||= ::ActiveSupport::ErrorReporter.new)
    end

    # wrap's report of an error raised by its block (any Exception, as Rails
    # 7.2+ rescues): unhandled, with the source where the reporter takes one
    # (Active Support 7.0's does not).
    def __holdfast_report_error(error, source) # :nodoc:
      reporter = error_reporter
      return unless reporter

      # Once per error however many wraps it crosses (different executor
      # classes may have different reporters on 7.0, which does not dedupe).
      return if error.instance_variable_defined?(:@__holdfast_reported)

      source ||= "application.active_support"
      if ErrorReporting.takes_source?(reporter)
        reporter.report(error, handled: false, source: source)
      else
        reporter.report(error, handled: false)
      end
      error.instance_variable_set(:@__holdfast_reported, true) unless error.frozen?
    end

    # A Thread whose whole block runs inside this executor: the rule that
    # no application code may run on a thread outside +wrap+, made automatic.
    def thread(*args, &block)
      raise ArgumentError, "#{name || self}.thread needs a block" unless block

      executor = self
      Thread.new(*args) { |*thread_args| executor.wrap { block.call(*thread_args) } }
    end

    # A fixed-size thread pool whose every task runs inside this executor.
    def pool(size, name: nil)
      WrappedPool.new(self, size, name: name)
    end

    # A class that defines its own run! or complete! (as Reloader does) has
    # them called by wrap and run!; the rest take the native path.
    def singleton_method_added(name) # :nodoc:
      super
      __holdfast_refresh_overrides if name == :run!
    end

    def method_added(name) # :nodoc:
      super
      __holdfast_refresh_overrides if name == :run! || name == :complete!
    end

    def __holdfast_refresh_overrides # :nodoc:
      return unless instance_variable_defined?(:@__holdfast_core)

      @__holdfast_core.overridden =
        singleton_class.instance_method(:run!).owner != ExecutorMethods ||
        instance_method(:run!).owner != ExecutionMethods ||
        instance_method(:complete!).owner != ExecutionMethods
      __holdfast_subclasses.each(&:__holdfast_refresh_overrides)
    end

    # Direct subclasses (Class#subclasses arrived in Ruby 3.1).
    def __holdfast_subclasses # :nodoc:
      return subclasses if respond_to?(:subclasses)

      ObjectSpace.each_object(singleton_class).select { |c| c.superclass == self }
    end
  end
end
