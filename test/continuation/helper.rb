# frozen_string_literal: true

# Shared set-up for the continuation tests: Active Job's test adapter,
# Holdfast's test helper, a fresh memory store per test, and a log to read.
$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
require "active_support"
require "active_support/test_case"
require "active_job"
require "holdfast"
require "holdfast/continuable"
require "holdfast/continuation/test_helper"
require "minitest/autorun"
require "stringio"

ActiveJob::Base.queue_adapter = :test
ActiveJob::Base.logger = Logger.new(nil)

class ContinuationTestCase < ActiveSupport::TestCase
  include Holdfast::Continuation::TestHelper

  setup do
    @store = Holdfast::Store.memory
    Holdfast.configure { |c| c.store = @store }
    @log = StringIO.new
    @saved_logger = ActiveJob::Base.logger
    logger = ActiveSupport::Logger.new(@log)
    logger.formatter = ->(severity, _time, _program, message) { "#{severity} #{message}\n" }
    ActiveJob::Base.logger = logger
    Holdfast.resume!
  end

  teardown do
    ActiveJob::Base.logger = @saved_logger
    Holdfast.resume!
  end

  # [severity, message] per line logged.
  def log_entries
    @log.string.lines.map { |line| line.chomp.split(" ", 2) }
  end

  def log_lines
    log_entries.map(&:last)
  end

  # Events "<name>.active_job" recorded while the block runs.
  def capture_events(*names)
    events = []
    subscribers = names.map do |name|
      ActiveSupport::Notifications.subscribe("#{name}.active_job") do |*args|
        events << ActiveSupport::Notifications::Event.new(*args)
      end
    end
    yield
    events
  ensure
    subscribers&.each { |s| ActiveSupport::Notifications.unsubscribe(s) }
  end
end
