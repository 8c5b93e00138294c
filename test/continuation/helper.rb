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
# Which implementation runs the steps: Rails' own on Active Job 8.1+.
RAILS_CONTINUATIONS = Holdfast::Continuation.rails_continuations?
# Rails 8.2's continuation keeps cursors as Active Job serializes them (in
# the payload too); 8.1's keeps the value.
RAILS_SERIALIZES_CURSORS = RAILS_CONTINUATIONS && Holdfast::Continuation::RailsDurability.serialized_cursors?
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

  # The cursor of the step +job+ is in (nil between steps), on either
  # implementation.
  def cursor_of(job)
    job.__holdfast_position.last
  end

  def postgres_url
    ENV.fetch("HOLDFAST_TEST_POSTGRES_URL") { flunk "HOLDFAST_TEST_POSTGRES_URL is not set: bin/test starts the server" }
  end

  # An Active Record connection to a fresh database: SQLite in memory, or
  # on Active Record 8+ where the sqlite3 gem is older than it needs (2.1;
  # Debian 13 has 1.7) a schema of its own on the test PostgreSQL, dropped
  # afterwards.
  def connect_active_record
    require "active_record"
    sqlite = Gem::Specification.find_all_by_name("sqlite3").map(&:version).max
    if ActiveRecord::VERSION::MAJOR >= 8 && !(sqlite && sqlite >= Gem::Version.new("2.1"))
      ActiveRecord::Base.establish_connection(postgres_url)
      @ar_schema = "holdfast_test_#{Process.pid}_#{SecureRandom.hex(4)}"
      ActiveRecord::Base.connection.execute("CREATE SCHEMA #{@ar_schema}")
      ActiveRecord::Base.connection.schema_search_path = @ar_schema
    else
      ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: ":memory:")
    end
  end

  def disconnect_active_record
    ActiveRecord::Base.connection.execute("DROP SCHEMA #{@ar_schema} CASCADE") if @ar_schema
    ActiveRecord::Base.remove_connection
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
