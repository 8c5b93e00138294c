# frozen_string_literal: true

# Holdfast::Dashboard through Rack::Test: every route and status, access
# (403 until an authentication hook is configured, 401 for HTTP Basic, the
# development opt-in), CSRF refusals, 404s, escaping, and the actions.
require "minitest/autorun"
require "rack/test"
require "json"
require "active_job"
$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
require "holdfast"
require "holdfast/dashboard"
require "holdfast/continuable"

ActiveJob::Base.queue_adapter = :test
ActiveJob::Base.logger = Logger.new(nil)

class DashboardJob < ActiveJob::Base
  def perform(*); end
end

class DashboardTest < Minitest::Test
  include Rack::Test::Methods

  def setup
    @store = Holdfast::Store.memory(lease: 1)
    @auth = Holdfast::Dashboard.basic("ops", "s3cret")
    ActiveJob::Base.queue_adapter.enqueued_jobs.clear
  end

  def teardown
    @store.close
  end

  # Rack::Test keeps the app it first built: the dashboard is made per
  # request from the test's settings, so a test can change them.
  def app
    test = self
    Rack::Builder.new { map("/holdfast") { run ->(env) { test.dashboard.call(env) } } }
  end

  def dashboard
    Holdfast::Dashboard.new(store: @store, authenticate: @auth, allow_in_development: @development)
  end

  def payload(id)
    JSON.generate(DashboardJob.new(1).tap { |job| job.job_id = id }.serialize)
  end

  # An orphan (its lease ran out) and a completed job.
  def populate
    orphan = @store.begin_execution("orphan-1", "DashboardJob", payload: payload("orphan-1"))
    orphan.checkpoint(completed: ["validate"], current: ["process", "[3000]"])
    orphan.release(keep_lease: true)
    done = @store.begin_execution("done-1", "DashboardJob", payload: payload("done-1"))
    done.complete
    sleep 0.05 until @store.get("orphan-1")["lease_expires_at"] <= Time.now
  end

  def login
    basic_authorize "ops", "s3cret"
  end

  def token
    get "/holdfast/"
    rack_mock_session.cookie_jar["holdfast_csrf"]
  end

  def test_access_is_denied_until_an_authentication_hook_is_configured
    @auth = nil
    get "/holdfast/"
    assert_equal 403, last_response.status
    assert_includes last_response.body, "Configure Holdfast::Dashboard.basic_auth or Holdfast::Dashboard.authenticate"
    post "/holdfast/recover"
    assert_equal 403, last_response.status
  end

  def test_http_basic_asks_for_credentials_and_refuses_wrong_ones
    get "/holdfast/"
    assert_equal 401, last_response.status
    assert_equal 'Basic realm="Holdfast"', last_response.headers["www-authenticate"]
    basic_authorize "ops", "wrong"
    get "/holdfast/jobs/x"
    assert_equal 401, last_response.status
    login
    get "/holdfast/"
    assert_equal 200, last_response.status
  end

  def test_a_hook_that_says_no_is_403_and_development_opens_only_when_opted_in
    @auth = ->(request) { request.get_header("HTTP_X_ADMIN") == "yes" }
    get "/holdfast/"
    assert_equal 403, last_response.status
    header "X-Admin", "yes"
    get "/holdfast/"
    assert_equal 200, last_response.status

    @auth = nil
    ENV["RACK_ENV"] = "development"
    get "/holdfast/"
    assert_equal 403, last_response.status, "development without the opt-in"
    @development = true
    get "/holdfast/"
    assert_equal 200, last_response.status
    ENV["RACK_ENV"] = "production"
    get "/holdfast/"
    assert_equal 403, last_response.status, "the opt-in is for development only"
  ensure
    ENV.delete("RACK_ENV")
  end

  def test_every_page
    populate
    login
    get "/holdfast/"
    assert_equal 200, last_response.status
    assert_equal "text/html; charset=utf-8", last_response.headers["content-type"]
    assert_match(/default-src 'none'/, last_response.headers["content-security-policy"])
    body = last_response.body
    assert_includes body, "1 in flight, <strong>1 orphaned</strong>"
    assert_includes body, '<span class="state orphaned">orphaned</span>'
    assert_includes body, '<td class="cursor">3000</td>'
    assert_includes body, 'action="/holdfast/recover"'
    refute_includes body, "done-1"
    refute_match(/<script|https?:/, body, "no scripts, no external assets")

    get "/holdfast/completed"
    assert_equal 200, last_response.status
    assert_includes last_response.body, "done-1"
    refute_includes last_response.body, "orphan-1"

    get "/holdfast/jobs/orphan-1"
    assert_equal 200, last_response.status
    assert_includes last_response.body, "<dt>Steps done</dt><dd>validate</dd>"
    assert_includes last_response.body, "<dt>Cursor</dt><dd><pre>3000</pre></dd>"
    assert_includes last_response.body, "&quot;job_class&quot;: &quot;DashboardJob&quot;"
    assert_includes last_response.body, 'action="/holdfast/jobs/orphan-1/discard"'

    lock = Holdfast::ShareLock.new
    lock.start_exclusive
    get "/holdfast/locks"
    assert_equal 200, last_response.status
    assert_match(/<li>[^<]+: holds exclusive \(purpose nil\)<\/li>/, last_response.body)
    lock.stop_exclusive

    get "/holdfast/jobs/no-such-job"
    assert_equal 404, last_response.status
    get "/holdfast/nowhere"
    assert_equal 404, last_response.status
  end

  def test_output_is_escaped
    login
    hostile = %(<img src=x onerror="alert(1)">)
    execution = @store.begin_execution(hostile, "<b>Job</b>")
    execution.checkpoint(current: ["<i>step</i>", JSON.generate(["</pre><script>x</script>"])])
    get "/holdfast/"
    refute_includes last_response.body, "<img"
    refute_includes last_response.body, "<b>Job"
    assert_includes last_response.body, "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    get "/holdfast/jobs/#{Rack::Utils.escape_path(hostile)}"
    assert_equal 200, last_response.status
    refute_includes last_response.body, "<script>"
    assert_includes last_response.body, "&lt;/pre&gt;&lt;script&gt;"
  end

  def test_posts_without_the_csrf_token_are_refused_and_change_nothing
    populate
    login
    csrf = token
    assert_equal 43, csrf.size
    post "/holdfast/jobs/orphan-1/discard"
    assert_equal 403, last_response.status
    assert_includes last_response.body, "missing its CSRF token"
    post "/holdfast/jobs/orphan-1/discard", "authenticity_token" => "x" * 43
    assert_equal 403, last_response.status
    post "/holdfast/recover", { "authenticity_token" => csrf }, { "HTTP_ORIGIN" => "https://evil.example" }
    assert_equal 403, last_response.status, "a cross-site origin is refused even with the token"
    refute_nil @store.get("orphan-1")
    assert_empty ActiveJob::Base.queue_adapter.enqueued_jobs
  end

  def test_recover_and_discard
    populate
    login
    csrf = token
    post "/holdfast/recover", "authenticity_token" => csrf
    assert_equal 303, last_response.status
    assert_equal "/holdfast/?notice=Re-enqueued+1+orphan%3A+orphan-1", last_response.headers["location"]
    assert_equal ["orphan-1"], ActiveJob::Base.queue_adapter.enqueued_jobs.map { |job| job["job_id"] }
    follow_redirect!
    assert_includes last_response.body, '<p class="notice" role="status">Re-enqueued 1 orphan: orphan-1</p>'

    post "/holdfast/jobs/orphan-1/discard", "authenticity_token" => csrf
    assert_equal 303, last_response.status
    assert_nil @store.get("orphan-1")
    post "/holdfast/jobs/orphan-1/discard", "authenticity_token" => csrf
    assert_equal 404, last_response.status
  end

  def test_a_store_that_went_away_is_503
    login
    @store.close
    get "/holdfast/"
    assert_equal 503, last_response.status
    assert_includes last_response.body, "The store is not reachable"
  end

  def test_mounted_as_a_class_with_class_level_settings
    Holdfast::Dashboard.basic_auth("ops", "s3cret")
    Holdfast.configure { |c| c.store = @store }
    klass_app = Rack::Builder.new { map("/holdfast") { run Holdfast::Dashboard } }
    session = Rack::MockSession.new(klass_app)
    browser = Rack::Test::Session.new(session)
    browser.get "/holdfast/"
    assert_equal 401, browser.last_response.status
    browser.basic_authorize "ops", "s3cret"
    browser.get "/holdfast/"
    assert_equal 200, browser.last_response.status
  ensure
    Holdfast::Dashboard.authenticate
    Holdfast.configure { |c| c.store = nil }
  end
end
