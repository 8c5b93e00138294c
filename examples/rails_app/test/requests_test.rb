# frozen_string_literal: true

require "test_helper"
require "net/http"
require "socket"

# Requests from many threads at once, through ActionDispatch::Executor and
# ActionDispatch::Reloader, with Rails' executor and interlock on Holdfast.
class RequestsTest < Minitest::Test
  def test_holdfast_backs_the_apps_executor_reloader_and_interlock
    assert Holdfast::ActiveSupport.installed?
    assert_kind_of Holdfast::Native::ExecutorCore, Rails.application.executor.instance_variable_get(:@__holdfast_core)
    assert_operator Rails.application.reloader, :<, ActiveSupport::Reloader
    lock = ActiveSupport::Dependencies.interlock.instance_variable_get(:@lock)
    assert_kind_of Holdfast::ShareLock, lock.holdfast_lock
    assert_equal 10, Holdfast.lock_wait_threshold
    assert_same Rails.logger, Holdfast.logger
  end

  def test_the_mounted_dashboard_asks_for_credentials_and_then_shows_the_jobs
    assert_equal 401, app.get("/holdfast/").status
    credentials = ActionController::HttpAuthentication::Basic.encode_credentials("ops", "example-only")
    response = app.get("/holdfast/", "HTTP_AUTHORIZATION" => credentials)
    assert_equal 200, response.status
    assert_includes response.body, "<h1>Jobs in flight</h1>"
    assert_includes response.body, 'href="/holdfast/completed/"'
  end

  def test_concurrent_requests_each_run_inside_the_executor
    offset = log_offset
    before = Item.count
    threads = Array.new(16) do |t|
      Thread.new { Array.new(10) { |i| app.post("/items", params: { name: "t#{t}-#{i}" }) } }
    end
    responses = threads.flat_map { |thread| join_within(thread).value }

    assert_equal [200], responses.map(&:status).uniq
    bodies = responses.map { |response| JSON.parse(response.body) }
    assert(bodies.all? { |body| body["inside_executor"] })
    assert_equal 160, bodies.map { |body| body["id"] }.uniq.size
    assert_equal before + 160, Item.count
    refute_includes log_since(offset), "[Holdfast]"
    refute Rails.application.executor.active?
  end

  def test_each_request_holds_the_interlock_share_until_it_leaves
    lock = ActiveSupport::Dependencies.interlock.instance_variable_get(:@lock)
    threads = Array.new(3) { Thread.new { app.get("/slow") } }
    inside = Array.new(3) { pop_within(RequestGate::INSIDE) }
    sharers = lock.raw_state { |data| data.select { |_, state| state[:sharing].positive? }.keys }
    assert_equal inside.sort_by(&:object_id), sharers.sort_by(&:object_id)

    3.times { RequestGate::RELEASE << true }
    assert_equal ["1 1"], threads.map { |thread| join_within(thread).value.body }.uniq
    assert_empty(lock.raw_state { |data| data.select { |_, state| state[:sharing].positive? } })
  end

  def test_puma_serves_concurrent_requests_through_the_executor
    port = TCPServer.open("127.0.0.1", 0) { |server| server.addr[1] }
    log = File.join(Rails.root, "log", "puma.log")
    puma = Process.spawn({ "RAILS_ENV" => "development" }, "puma", "-t", "8:8", "-b", "tcp://127.0.0.1:#{port}",
                         "config.ru", chdir: Rails.root.to_s, out: log, err: log)
    begin
      wait_for_port(port, puma, log)
      threads = Array.new(8) do |t|
        Thread.new do
          Net::HTTP.start("127.0.0.1", port) do |http|
            Array.new(5) { |i| http.post("/items", URI.encode_www_form(name: "puma-#{t}-#{i}")) }
          end
        end
      end
      responses = threads.flat_map { |thread| join_within(thread).value }
      assert_equal ["200"], responses.map(&:code).uniq, File.read(log)
      assert(responses.all? { |response| JSON.parse(response.body)["inside_executor"] })
    ensure
      Process.kill("TERM", puma)
      Timeout.timeout(Bounded::WAIT) { Process.wait(puma) }
    end
  end

  private

  def wait_for_port(port, pid, log)
    Timeout.timeout(Bounded::WAIT) do
      loop do
        raise "puma exited: #{File.read(log)}" if Process.wait(pid, Process::WNOHANG)

        TCPSocket.new("127.0.0.1", port).close
        return
      rescue Errno::ECONNREFUSED
        sleep 0.05
      end
    end
  end
end
