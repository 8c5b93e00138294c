# frozen_string_literal: true

require "test_helper"

# Holdfast's check for application code running on a thread with no active
# execution of Rails.application.executor (config.holdfast.unwrapped_code,
# :warn in development).
class UnwrappedCodeTest < Minitest::Test
  def setup
    @events = []
    @subscriber = ActiveSupport::Notifications.subscribe("unwrapped_code.holdfast") do |*, payload|
      @events << payload
    end
  end

  def teardown
    ActiveSupport::Notifications.unsubscribe(@subscriber)
    Holdfast::Railtie.unwrapped_code = @saved if defined?(@saved)
  end

  def test_a_bare_thread_touching_the_database_is_reported_once_with_its_call_site
    offset = log_offset
    2.times { join_within(Thread.new { Item.first }) }; line = __LINE__
    log = log_since(offset)
    site = "test/unwrapped_code_test.rb:#{line}"
    assert_equal 1, log.scan("[Holdfast]").size, log
    assert_includes log, "Active Record connection checkout at #{site} ran outside"
    assert_includes log, "Rails.application.executor.wrap { ... }"
    assert_includes log, "Rails.application.executor.thread { ... }"
    assert_equal [site], @events.map { |event| event[:location] }.uniq
  end

  def test_the_same_work_inside_the_executor_is_not_reported
    offset = log_offset
    assert_equal Item.count, join_within(Rails.application.executor.thread { Item.count }).value
    join_within(Thread.new { Rails.application.executor.wrap { Item.first && Rails.cache.read("k") } })
    refute_includes log_since(offset), "[Holdfast]"
    assert_empty @events
  end

  def test_the_main_thread_is_not_reported
    offset = log_offset
    Item.first
    Rails.cache.write("k", 1)
    refute_includes log_since(offset), "[Holdfast]"
  end

  def test_rails_cache_access_is_reported
    offset = log_offset
    join_within(Thread.new { Rails.cache.read("holdfast") }); line = __LINE__
    assert_includes log_since(offset), "Rails.cache access at test/unwrapped_code_test.rb:#{line} ran outside"
  end

  def test_raise_mode_stops_the_query_with_the_fix_in_the_message
    @saved = Holdfast::Railtie.unwrapped_code
    Holdfast::Railtie.unwrapped_code = Holdfast::UnwrappedCode.new(
      executor: Rails.application.executor, mode: :raise, root: Rails.root, logger: Rails.logger,
      name: "Rails.application.executor"
    )
    thread = Thread.new { Item.count }; line = __LINE__
    thread.report_on_exception = false
    error = assert_raises(Holdfast::UnwrappedCodeError) { join_within(thread).value }
    assert_match(/\AActive Record connection checkout at test\/unwrapped_code_test.rb:#{line} ran outside Rails.application.executor on /, error.message)
    assert_includes error.message, "`Rails.application.executor.wrap { ... }`"
    assert_equal Item.count, join_within(Rails.application.executor.thread { Item.count }).value
  end

  def test_an_unknown_mode_is_refused_with_the_allowed_ones
    error = assert_raises(ArgumentError) do
      Holdfast::UnwrappedCode.new(executor: Rails.application.executor, mode: :log, root: Rails.root)
    end
    assert_equal "unwrapped_code must be one of false, :warn, :raise, got :log", error.message
  end
end
