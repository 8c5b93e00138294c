# frozen_string_literal: true

module Holdfast
  module ActiveSupport
    # Reads the :run and :complete callbacks of an ActiveSupport executor
    # class, so that backing can move them onto the core. This is the one
    # place that knows ActiveSupport::Callbacks::Callback's insides, which
    # are not public API and differ by version:
    #
    # - kind (:before/:after) is public on 6.1 through 8.1;
    # - the filter as given to set_callback is #raw_filter on 6.1 and #filter
    #   from 7.0 on (6.1's #filter is a derived key);
    # - the if:/unless: conditions, as arrays, are the @if/@unless instance
    #   variables on every version.
    #
    # readable! checks every chain before anything changes, so a Rails whose
    # callbacks look different is refused instead of half backed.
    module CallbackChains
      Entry = Struct.new(:kind, :filter, :if, :unless) do
        # The arguments for Holdfast's to_run/to_complete.
        def arguments
          options = {}
          options[:if] = self.if unless self.if.empty?
          options[:unless] = self.unless unless self.unless.empty?
          options.empty? ? [kind, filter] : [kind, filter, options]
        end
      end

      PHASES = %i[run complete].freeze

      module_function

      # The callbacks +klass+ added itself to +phase+ (a subclass's chain
      # also holds its parent's), in chain order.
      def own_entries(klass, phase)
        inherited = klass.superclass.respond_to?(:__callbacks) ? callbacks(klass.superclass, phase) : []
        (callbacks(klass, phase) - inherited).map { |callback| entry(callback) }
      end

      # Raises UnsupportedVersionError unless every callback of every class
      # can be read.
      def readable!(classes)
        classes.each do |klass|
          PHASES.each { |phase| callbacks(klass, phase).each { |callback| entry(callback) } }
        end
      end

      def callbacks(klass, phase)
        chain = klass.__callbacks[phase]
        chain ? chain.to_a : []
      end

      def entry(callback)
        filter = callback.respond_to?(:raw_filter) ? callback.raw_filter : callback.filter
        conditions = %i[@if @unless].map do |name|
          value = callback.instance_variable_get(name)
          unsupported!(callback, "#{name} is #{value.inspect}, not an Array") unless value.is_a?(Array)
          value
        end
        unsupported!(callback, "kind is #{callback.kind.inspect}") unless %i[before after].include?(callback.kind)
        Entry.new(callback.kind, filter, *conditions)
      rescue NoMethodError => e
        unsupported!(callback, e.message)
      end

      def unsupported!(callback, detail)
        raise UnsupportedVersionError,
              "holdfast/active_support cannot read this ActiveSupport's executor callbacks (#{callback.class}: " \
              "#{detail}); nothing was changed. Use Holdfast::Executor directly, or report this with your Rails version"
      end
    end
  end
end
