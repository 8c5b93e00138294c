# frozen_string_literal: true

require "test_helper"

# Development mode: a model file changes while requests are inside the app.
# The reload (ActionDispatch::Reloader -> Rails.application.reloader ->
# class_unload! -> the interlock's unload lock) waits until no request is
# inside, then the next requests see the new code.
class ReloadTest < Minitest::Test
  def test_a_changed_model_reloads_only_once_no_request_is_inside
    assert_equal "1", app.get("/items/version").body
    inside = Array.new(3) { Thread.new { app.get("/slow") } }
    3.times { pop_within(RequestGate::INSIDE) }

    model = Rails.root.join("app", "models", "item.rb")
    File.write(model, File.read(model).sub(/^    1$/, "    2"))

    reloading = Thread.new { app.get("/items/version") }
    until_sleeping_in_interlock(reloading, :start_exclusive)
    assert reloading.alive?, "the reload must wait for the requests inside"

    3.times { RequestGate::RELEASE << true }
    # The requests inside saw version 1 from start to end: no reload under them.
    assert_equal ["1 1"], inside.map { |thread| join_within(thread).value.body }.uniq
    assert_equal "2", join_within(reloading).value.body
    assert_equal "2", app.get("/items/version").body
  end

  def test_an_unchanged_app_does_not_reload_or_take_the_unload_lock
    version = app.get("/items/version").body
    reloads = 0
    Rails.application.reloader.to_run { reloads += 1 }
    inside = Thread.new { app.get("/slow") }
    pop_within(RequestGate::INSIDE)
    # Would wait for the request inside if it tried to unload.
    assert_equal version, join_within(Thread.new { app.get("/items/version") }).value.body
    RequestGate::RELEASE << true
    join_within(inside)
    assert_equal 0, reloads
  end
end
