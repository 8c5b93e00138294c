# frozen_string_literal: true

module Holdfast
  # Turns what ActiveSupport's set_callback accepts into the plain arguments
  # the native core takes. Anything the core cannot honour is refused here,
  # at registration, instead of being ignored or failing later.
  module Callbacks # :nodoc:
    # Kind codes understood by ext/holdfast/src/callable.rs.
    EXEC = 0
    EXEC_WITH_TARGET = 1
    SEND = 2
    OBJECT = 3

    POSITIONS = %i[before after].freeze
    OPTIONS = %i[if unless prepend].freeze

    module_function

    # +label+ names the registering method in error messages.
    def register(core, phase, args, block, label = "to_#{phase}")
      args = args.dup
      position = args.first.is_a?(Symbol) && (POSITIONS.include?(args.first) || args.first == :around) ? args.shift : :before
      if position == :around
        raise ArgumentError, "Holdfast executors do not support :around callbacks: the work runs " \
                             "between the run chain and the complete chain. Use to_run and to_complete " \
                             "(:before or :after), or register_hook(hook) for paired run/complete logic"
      end

      options = args.last.instance_of?(Hash) ? args.pop : {}
      unknown = options.keys - OPTIONS
      unless unknown.empty?
        raise ArgumentError, "Unknown callback option#{"s" if unknown.size > 1} #{unknown.map(&:inspect).join(", ")} " \
                             "for #{label}; supported options are :if, :unless and :prepend"
      end

      args.unshift(block) if block
      raise ArgumentError, "#{label} needs a block, a method name or a callback object" if args.empty?

      conditions = conditions_for(options[:if], false, position) + conditions_for(options[:unless], true, position)
      args.each do |filter|
        callable = classify(filter, position, "#{label} callback")
        core.add_callback(phase, position, options[:prepend] ? true : false, callable, conditions)
      end
      nil
    end

    def conditions_for(value, negate, position)
      Array(value).map do |condition|
        kind, callable = classify(condition, position, "#{negate ? ":unless" : ":if"} condition")
        [kind, callable, negate]
      end
    end

    def classify(filter, position, role)
      case filter
      when String
        raise ArgumentError, "Passing a string as a #{role} is not supported (ActiveSupport removed string " \
                             "callbacks); pass a block, a method name Symbol or an object"
      when Symbol
        [SEND, filter]
      when Proc
        if filter.arity > 1
          raise ArgumentError, "A #{role} block takes at most one argument (the execution), but this one " \
                               "takes #{filter.arity} (#{filter.source_location&.join(":")})"
        end
        [filter.arity.positive? ? EXEC_WITH_TARGET : EXEC, filter]
      else
        unless filter.respond_to?(position, true)
          raise ArgumentError, "#{filter.inspect} cannot be a #{position} #{role}: it does not respond to " \
                               "##{position}(execution). Pass a block, a method name Symbol, or an object " \
                               "with a #{position} method"
        end
        [OBJECT, filter]
      end
    end
  end
end
