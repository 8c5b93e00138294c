# frozen_string_literal: true

module Holdfast
  # Reports application code that runs on a thread with no active execution
  # of the app's executor: the rule "every thread wraps all its application
  # code", checked at run time. Rails' integration (Holdfast::Railtie) calls
  # #check from Active Record connection checkout, every query and every
  # Rails.cache call.
  #
  # The main thread is never checked: Rails does not wrap boot, the console,
  # rake tasks or test cases there, so a report would be noise. Nor is code
  # with no application frame on its stack (framework housekeeping threads).
  class UnwrappedCode
    MODES = [false, :warn, :raise].freeze
    EVENT = "unwrapped_code.holdfast"

    attr_reader :mode

    # +executor+: the class whose active? counts, called +name+ in reports.
    # +root+: the application's directory; frames under it are application
    # frames, except under the +excluded+ subdirectories (configuration and
    # vendored code run on behalf of the framework) and gem directories.
    def initialize(executor:, mode:, root:, logger: nil, name: executor.name || executor.inspect,
                   excluded: %w[config vendor])
      unless MODES.include?(mode)
        raise ArgumentError, "unwrapped_code must be one of #{MODES.map(&:inspect).join(", ")}, got #{mode.inspect}"
      end

      @executor = executor
      @name = name
      @mode = mode
      @root = File.join(File.expand_path(root.to_s), "")
      @excluded = excluded.map { |dir| File.join(@root, dir, "") } +
                  Gem.path.map { |dir| File.join(File.expand_path(dir), "") }
      @logger = logger
      @reported = {}
      @mutex = Mutex.new
    end

    # +what+ names the operation, e.g. "Active Record query".
    def check(what)
      return if @mode == false || @executor.active?

      thread = Thread.current
      return if thread.equal?(Thread.main)

      location = application_frame
      return unless location

      report(what, location, thread)
    end

    def application_frame
      caller_locations(2).find do |frame|
        path = frame.absolute_path || frame.path
        path&.start_with?(@root) && @excluded.none? { |prefix| path.start_with?(prefix) }
      end
    end

    private

    def report(what, location, thread)
      site = "#{relative(location)}:#{location.lineno}"
      message = "#{what} at #{site} ran outside #{@name} on #{thread.inspect}. " \
                "Every thread that runs application code must do all of it inside the executor: wrap the whole " \
                "thread body in `Rails.application.executor.wrap { ... }`, or start the thread with " \
                "`Rails.application.executor.thread { ... }`. (config.holdfast.unwrapped_code = false turns " \
                "this check off.)"
      if defined?(::ActiveSupport::Notifications)
        ::ActiveSupport::Notifications.instrument(EVENT, what: what, location: site, thread: thread, message: message)
      end
      raise UnwrappedCodeError, message if @mode == :raise

      first = @mutex.synchronize { @reported[site] ? false : (@reported[site] = true) }
      return unless first

      line = "[Holdfast] #{message}"
      @logger ? @logger.warn(line) : warn(line)
    end

    def relative(location)
      path = location.absolute_path || location.path
      path.delete_prefix(@root)
    end
  end
end
