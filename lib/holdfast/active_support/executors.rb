# frozen_string_literal: true

module Holdfast
  module ActiveSupport
    # Puts ActiveSupport::ExecutionWrapper and its subclasses on executor
    # cores. The class-level API (Holdfast::ExecutorMethods) and #run!/
    # #complete! (Holdfast::ExecutionMethods) are prepended, so a subclass's
    # own overrides (Reloader's run!, wrap, complete!) still come first and
    # reach the core with super. Chains other than :run and :complete
    # (Reloader's :prepare and :class_unload) stay ActiveSupport::Callbacks.
    module Executors
      module_function

      def back(root)
        classes = with_descendants(root)
        CallbackChains.readable!(classes)
        classes.each do |klass|
          parent_core = klass.equal?(root) ? nil : klass.superclass.instance_variable_get(:@__holdfast_core)
          core = parent_core ? parent_core.subclass : Native::ExecutorCore.new
          migrate(klass, core)
          klass.instance_variable_set(:@__holdfast_core, core)
        end
        root.singleton_class.prepend(ExecutorMethods, ChainGuards)
        root.prepend(ExecutionMethods)
        classes.each(&:__holdfast_refresh_overrides)
      end

      # Parents before children, so each child core derives from its parent's.
      def with_descendants(root)
        ordered = [root]
        ordered.each do |klass|
          ordered.concat(klass.respond_to?(:subclasses) ? klass.subclasses : direct_subclasses(klass))
        end
        ordered
      end

      def direct_subclasses(klass)
        ObjectSpace.each_object(klass.singleton_class).select { |c| c.superclass == klass }
      end

      # Registers on +core+ the :run and :complete callbacks +klass+ added
      # itself (a child core inherits its parent's), in chain order.
      def migrate(klass, core)
        CallbackChains::PHASES.each do |phase|
          CallbackChains.own_entries(klass, phase).each do |entry|
            Callbacks.register(core, phase, entry.arguments, nil, "#{klass.name || klass}.to_#{phase}")
          end
        end
      end
    end

    # The ActiveSupport::Callbacks calls on :run and :complete that the core
    # has no counterpart for: refused with the way to do it, instead of
    # acting on a chain nothing runs any more.
    module ChainGuards
      %i[skip_callback reset_callbacks].each do |method|
        define_method(method) do |name, *args, &block|
          if name == :run || name == :complete
            raise NotImplementedError,
                  "#{self.name || self}.#{method}(#{name.inspect}) is not supported while Holdfast backs " \
                  "ActiveSupport's executors: give the callback an if:/unless: condition, or register it on " \
                  "a subclass that needs it"
          end
          super(name, *args, &block)
        end
      end
    end
  end
end
