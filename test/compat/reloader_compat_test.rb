# frozen_string_literal: true

# What ActiveSupport::Reloader does differently between Rails versions (read
# from each version's activesupport/lib/active_support/reloader.rb); see
# executor_compat_test.rb for how it runs.
require_relative "abstract_unit"
require_relative "compat_helper"

class ReloaderCompatTest < ActiveSupport::TestCase
  include CompatHelper

  class DummyError < RuntimeError; end

  def reloader
    @reloader ||= Class.new(ActiveSupport::Reloader).tap do |reloader|
      reloader.executor = executor
      reloader.check = -> { true }
    end
  end

  test "wrap inside an active wrap just yields: the reload callbacks run once" do
    runs = 0
    reloader.to_run { runs += 1 }
    result = reloader.wrap { reloader.wrap { :inner } }
    assert_equal :inner, result
    assert_equal 1, runs
  end

  # Backed, Reloader.wrap is still Active Support's own method (only the
  # executor core under it is Holdfast's), so it takes source: from 7.1;
  # Holdfast::Reloader (drop-in) takes it everywhere.
  test "wrap(source:) hands the source to the executor's reporter (7.1+; Holdfast::Reloader everywhere)" do
    unless ENV["HOLDFAST_MODE"] == "drop_in" || at_least?("7.1")
      skip "Active Support #{VERSION}'s Reloader.wrap takes no keywords"
    end
    sources = []
    subscriber = Object.new
    subscriber.define_singleton_method(:report) { |_error, source: :none, **| sources << source }
    executor.error_reporter.subscribe(subscriber)
    assert_raises(DummyError) { reloader.wrap(source: "reload.test") { raise DummyError } }
    # Active Support 7.0's reporter takes no source.
    assert_equal [at_least?("7.1") || !at_least?("7.0") ? "reload.test" : :none], sources
  ensure
    executor.error_reporter.unsubscribe(subscriber) if subscriber && executor.error_reporter.respond_to?(:unsubscribe)
  end

  test "reload! runs a reloading execution (class_unload! inside it), then to_prepare" do
    log = []
    reloader.before_class_unload { log << :before_unload }
    reloader.after_class_unload { log << :after_unload }
    reloader.to_run { log << :run; class_unload! { log << :unload } }
    reloader.to_complete { log << :complete }
    reloader.to_prepare { log << :prepare }
    reloader.reload!
    # The class_unload! inside to_run runs to_prepare (Rails: it reloaded), and
    # reload! prepares again afterwards.
    assert_equal %i[run before_unload unload after_unload prepare complete prepare], log
  end
end
