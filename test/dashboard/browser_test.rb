# frozen_string_literal: true

# The dashboard in headless Chromium (Debian's chromium + chromium-driver,
# driven by selenium-webdriver): served by WEBrick with HTTP Basic, real
# in-flight and orphaned jobs in an SQLite store, "Recover orphans now"
# pressed, and the job seen coming back (re-enqueued on :async, resumed from
# its cursor, completed). Screenshots go to tmp/dashboard-*.png.
require "minitest/autorun"
require "selenium-webdriver"
require "rack"
require "webrick"
require "tmpdir"
require "json"
require "timeout"
require "active_job"
$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
require "holdfast"
require "holdfast/dashboard"
require "holdfast/continuable"

ROOT = File.expand_path("../..", __dir__)
ActiveJob::Base.queue_adapter = :async
ActiveJob::Base.logger = Logger.new(nil)

# Counts 0...10 from wherever its cursor is.
class BrowserJob < ActiveJob::Base
  include Holdfast::Continuation.rails_continuations? ? ActiveJob::Continuable : Holdfast::Continuable

  def perform
    step :count, start: 0 do |step|
      step.advance! while step.cursor < 10
    end
  end
end

class DashboardBrowserTest < Minitest::Test
  def setup
    @dir = Dir.mktmpdir("holdfast-browser")
    @path = File.join(@dir, "continuations.sqlite3")
    Holdfast.configure do |c|
      c.store = @path
      c.lease = 1
    end
    @store = Holdfast.continuation_store
    @port = serve
    @driver = chromium
  end

  def teardown
    @driver&.quit
    @server&.shutdown
    @thread&.join(5)
    Holdfast.continuation_store&.close
    FileUtils.rm_rf(@dir)
  end

  def serve
    ports = Queue.new
    app = Rack::Builder.new do
      map("/holdfast") { run Holdfast::Dashboard.new(authenticate: Holdfast::Dashboard.basic("ops", "s3cret")) }
    end
    @thread = Thread.new do
      Rack::Handler::WEBrick.run(app, Host: "127.0.0.1", Port: 0, AccessLog: [], Logger: WEBrick::Log.new(File::NULL)) do |server|
        @server = server
        ports << server.listeners.first.addr[1]
      end
    end
    Timeout.timeout(30, Minitest::Assertion, "WEBrick did not start") { ports.pop }
  end

  def chromium
    options = Selenium::WebDriver::Chrome::Options.new(args: %w[--headless=new --no-sandbox --disable-gpu
                                                                 --disable-dev-shm-usage --window-size=1200,800])
    options.binary = "/usr/bin/chromium"
    service = Selenium::WebDriver::Service.chrome(path: "/usr/bin/chromedriver")
    Selenium::WebDriver.for(:chrome, options: options, service: service)
  end

  def url(path = "/")
    "http://ops:s3cret@127.0.0.1:#{@port}/holdfast#{path}"
  end

  def screenshot(name)
    FileUtils.mkdir_p(File.join(ROOT, "tmp"))
    @driver.save_screenshot(File.join(ROOT, "tmp", "dashboard-#{name}.png"))
  end

  # Waits (bounded) until the block is true, reloading the page.
  def eventually(what, within: 30)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + within
    until yield
      flunk "#{what}: not within #{within}s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.2
      @driver.navigate.refresh
    end
  end

  def row(job_id)
    @driver.find_elements(:xpath, "//tr[td/a[text()=#{job_id.dump}]]").first
  end

  def test_an_orphan_is_seen_recovered_and_coming_back
    orphan = @store.begin_execution("import-7", "BrowserJob", payload: JSON.generate(BrowserJob.new.tap { |j| j.job_id = "import-7" }.serialize))
    orphan.checkpoint(current: ["count", "[4]"])
    orphan.release(keep_lease: true)
    long = Holdfast::Store.sqlite(@path, lease: 600)
    running = long.begin_execution("report-3", "ReportJob", payload: "{}")
    running.checkpoint(completed: ["gather"], current: ["render", "[120]"])

    @driver.navigate.to url
    eventually("the orphan's lease to run out") { row("import-7")&.text&.include?("orphaned") }
    assert_match(/import-7 BrowserJob orphaned count 4 0 ran out \d+s ago/, row("import-7").text)
    assert_match(/report-3 ReportJob running render 120 0 \d+m? ?\d*s? ?left/, row("report-3").text)
    assert_includes @driver.find_element(:css, ".summary").text, "2 in flight, 1 orphaned"
    screenshot("in-flight")

    @driver.find_element(:css, "form[action='/holdfast/recover'] button").click
    notice = @driver.find_element(:css, "p.notice").text
    assert_equal "Re-enqueued 1 orphan: import-7", notice
    # Resumed from its cursor on :async and completed: gone from in flight.
    eventually("the recovered job to complete") { row("import-7").nil? }
    @driver.navigate.to url("/completed")
    assert_match(/import-7 BrowserJob completed/, row("import-7").text)
    assert_equal 1, @store.get("import-7")["resumptions"]

    @driver.navigate.to url("/jobs/report-3")
    assert_includes @driver.find_element(:css, "dl").text, "render"
    @driver.manage.window.resize_to(390, 844)
    @driver.navigate.to url
    overflow = @driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert_operator overflow, :<=, 0, "the page fits a phone's width (the table scrolls inside its box)"
    screenshot("phone")
    running.complete
    long.close
  end

  def test_without_credentials_the_browser_gets_nothing
    @driver.navigate.to "http://127.0.0.1:#{@port}/holdfast/"
    refute_includes @driver.page_source, "Jobs in flight"
  end
end
