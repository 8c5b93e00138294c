# frozen_string_literal: true

module Holdfast
  # The subset of ActiveSupport::ErrorReporter that executors need, for apps
  # on Rails < 7.0 or without Rails: subscribers get
  # +report(error, handled:, severity:, context:, source:)+, and an error is
  # reported at most once however many layers see it.
  class ErrorReporter
    SEVERITIES = %i[error warning info].freeze
    DEFAULT_SOURCE = "application"

    attr_accessor :logger

    def initialize(*subscribers, logger: nil)
      @subscribers = subscribers.flatten
      @logger = logger
      @mutex = Mutex.new
    end

    def subscribe(subscriber)
      raise ArgumentError, "Error subscribers must respond to #report" unless subscriber.respond_to?(:report)

      @mutex.synchronize { @subscribers = @subscribers + [subscriber] unless @subscribers.include?(subscriber) }
      subscriber
    end

    def unsubscribe(subscriber)
      @mutex.synchronize { @subscribers = @subscribers.reject { |s| s.equal?(subscriber) || s == subscriber } }
    end

    def subscribers
      @subscribers.dup
    end

    # Runs the block; a StandardError (or one of +error_classes+) is
    # reported as handled and swallowed, and +fallback+ (or nil) is returned.
    def handle(*error_classes, severity: :warning, context: {}, fallback: nil, source: DEFAULT_SOURCE)
      error_classes = [StandardError] if error_classes.empty?
      yield
    rescue *error_classes => error
      report(error, handled: true, severity: severity, context: context, source: source)
      fallback.respond_to?(:call) ? fallback.call : fallback
    end

    # Runs the block; an error is reported as unhandled and re-raised.
    def record(*error_classes, severity: :error, context: {}, source: DEFAULT_SOURCE)
      error_classes = [StandardError] if error_classes.empty?
      yield
    rescue *error_classes => error
      report(error, handled: false, severity: severity, context: context, source: source)
      raise
    end

    def report(error, handled: true, severity: handled ? :warning : :error, context: {}, source: DEFAULT_SOURCE)
      unless SEVERITIES.include?(severity)
        raise ArgumentError, "severity must be one of #{SEVERITIES.inspect}, got: #{severity.inspect}"
      end
      return if error.instance_variable_defined?(:@__holdfast_error_reported)

      @subscribers.each do |subscriber|
        subscriber.report(error, handled: handled, severity: severity, context: context, source: source)
      rescue => subscriber_error
        raise unless logger

        logger.fatal("Error subscriber raised an error: #{subscriber_error.message} (#{subscriber_error.class})\n" \
                     "#{subscriber_error.backtrace&.join("\n")}")
      end
      error.instance_variable_set(:@__holdfast_error_reported, true) unless error.frozen?
      nil
    end
  end
end
