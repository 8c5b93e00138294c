# frozen_string_literal: true

require "rack"
require "securerandom"
require_relative "../holdfast"
require_relative "cli/records"
require_relative "dashboard/views"

module Holdfast
  # A mountable Rack dashboard for continuable jobs: in-flight jobs with
  # step, cursor, age and lease state (orphans flagged), completed ones, a
  # job's detail, and the serving process's share-lock/interlock snapshot;
  # "recover orphans" and "discard" as POSTs with CSRF protection.
  #
  #   # config/routes.rb
  #   mount Holdfast::Dashboard => "/holdfast"
  #   # config/initializers/holdfast.rb
  #   Holdfast::Dashboard.basic_auth("ops", ENV.fetch("HOLDFAST_DASHBOARD_PASSWORD"))
  #   # or: Holdfast::Dashboard.authenticate { |request| request.env["warden"]&.user&.admin? }
  #
  # It refuses every request (403) until one of those is configured, except
  # in development when `Holdfast::Dashboard.allow_in_development = true`.
  # Plain Rack: `run Holdfast::Dashboard.new(store: store, authenticate: ...)`
  # serves it without Rails.
  class Dashboard
    CSRF_COOKIE = "holdfast_csrf"
    CSRF_FIELD = "authenticity_token"

    class << self
      attr_writer :allow_in_development

      # A block that receives the Rack::Request and returns true to let it in.
      def authenticate(&block)
        @authenticate = block
      end

      # HTTP Basic with this user and password (compared in constant time).
      def basic_auth(user, password)
        @authenticate = Dashboard.basic(user, password)
      end

      def call(env)
        new(authenticate: @authenticate, allow_in_development: @allow_in_development).call(env)
      end

      def basic(user, password)
        raise ArgumentError, "basic_auth needs a non-empty user and password" if user.to_s.empty? || password.to_s.empty?

        lambda do |request|
          auth = Rack::Auth::Basic::Request.new(request.env)
          next :challenge unless auth.provided? && auth.basic?

          given_user, given_password = auth.credentials
          Rack::Utils.secure_compare(given_user.to_s, user.to_s) & Rack::Utils.secure_compare(given_password.to_s, password.to_s) ||
            :challenge
        end
      end
    end

    # +store+: default Holdfast.continuation_store (looked up per request).
    # +authenticate+: a callable taking the Rack::Request (true lets it in;
    # :challenge asks for HTTP Basic).
    def initialize(store: nil, authenticate: nil, allow_in_development: false)
      @store = store
      @authenticate = authenticate
      @allow_in_development = allow_in_development
    end

    def call(env)
      request = Rack::Request.new(env)
      denied = deny(request)
      return denied if denied

      with_csrf_cookie(request, route(request))
    rescue Holdfast::StoreError => e
      page(503, Views.error("The store is not reachable", e.message, request))
    end

    private

    def deny(request)
      return nil if development_opt_in?
      unless @authenticate
        return page(403, Views.error("Access denied",
                                     "Configure Holdfast::Dashboard.basic_auth or Holdfast::Dashboard.authenticate " \
                                     "to open the dashboard.", request))
      end

      answer = @authenticate.call(request)
      return nil if answer == true
      if answer == :challenge
        return [401, { "content-type" => "text/plain", "www-authenticate" => 'Basic realm="Holdfast"' }, ["Unauthorized\n"]]
      end

      page(403, Views.error("Access denied", "Your account may not open the Holdfast dashboard.", request))
    end

    def development_opt_in?
      return false unless @allow_in_development

      environment = defined?(::Rails.env) ? ::Rails.env.to_s : ENV["RACK_ENV"] || ENV["RAILS_ENV"]
      environment == "development"
    end

    def route(request)
      path = request.path_info.to_s.sub(%r{/+\z}, "")
      read = %w[GET HEAD].include?(request.request_method)
      post = request.request_method == "POST"
      if read && path.empty? then jobs(request, :in_flight)
      elsif read && path == "/completed" then jobs(request, :completed)
      elsif read && path == "/locks" then page(200, Views.locks(LockSnapshots.current, request, csrf(request)))
      elsif read && (match = path.match(%r{\A/jobs/([^/]+)\z})) then job(request, job_id(match))
      elsif post && path == "/recover" then with_csrf(request) { recover(request) }
      elsif post && (match = path.match(%r{\A/jobs/([^/]+)/discard\z}))
        with_csrf(request) { discard(request, job_id(match)) }
      else
        page(404, Views.error("Not found", "No page at #{request.path_info}", request))
      end
    end

    def job_id(match)
      Rack::Utils.unescape_path(match[1])
    end

    def store
      @store || Holdfast.continuation_store or raise Holdfast::StoreError, "no continuation store is configured"
    end

    def jobs(request, which)
      records = if which == :completed
                  store.list(state: :completed, limit: 200)
                else
                  store.list(state: :in_flight, limit: 500, order: :oldest_first)
                end
      page(200, Views.jobs(records, which, request, csrf(request), flash(request)))
    end

    def job(request, id)
      record = store.get(id)
      return page(404, Views.error("Not found", "No record for job #{id}", request)) unless record

      page(200, Views.job(record, request, csrf(request), flash(request)))
    end

    def recover(request)
      ids = Holdfast.recover_orphans!(store: store)
      redirect(request, "", "Re-enqueued #{ids.size} orphan#{"s" unless ids.size == 1}#{": #{ids.join(", ")}" unless ids.empty?}")
    end

    def discard(request, id)
      return page(404, Views.error("Not found", "No record for job #{id}", request)) unless store.discard(id)

      redirect(request, "", "Discarded #{id}")
    end

    # Double-submit: the token lives in a SameSite=Strict cookie and in each
    # form; a POST must bring both, equal. A cross-site form has neither the
    # cookie's value nor a way to read it.
    def with_csrf(request)
      cookie = request.cookies[CSRF_COOKIE].to_s
      field = request.POST[CSRF_FIELD].to_s
      unless cookie.size == 43 && Rack::Utils.secure_compare(cookie, field) && same_origin?(request)
        return page(403, Views.error("Refused", "The form was missing its CSRF token (reload the page and try again).",
                                     request))
      end

      yield
    end

    # Browsers send Origin with a POST; one from another site is refused
    # even if it somehow carried the token.
    def same_origin?(request)
      origin = request.get_header("HTTP_ORIGIN")
      origin.nil? || origin == request.base_url
    end

    # A page that put a fresh token in its forms sets it as the cookie.
    def with_csrf_cookie(request, response)
      token = request.env["holdfast.csrf"]
      return response if token.nil? || token == request.cookies[CSRF_COOKIE]

      path = request.script_name.empty? ? "/" : request.script_name
      Rack::Utils.set_cookie_header!(response[1], CSRF_COOKIE,
                                     { value: token, path: path, httponly: true, same_site: :strict,
                                       secure: request.ssl? })
      response
    end

    def csrf(request)
      request.env["holdfast.csrf"] ||= begin
        existing = request.cookies[CSRF_COOKIE].to_s
        existing.size == 43 ? existing : SecureRandom.urlsafe_base64(32)
      end
    end

    def flash(request)
      request.GET["notice"]
    end

    def redirect(request, path, notice)
      location = "#{request.script_name}#{path}/?notice=#{Rack::Utils.escape(notice)}"
      [303, { "location" => location, "content-type" => "text/plain" }, ["See #{location}\n"]]
    end

    def page(status, body)
      headers = {
        "content-type" => "text/html; charset=utf-8",
        "cache-control" => "no-store",
        "x-frame-options" => "DENY",
        "x-content-type-options" => "nosniff",
        "referrer-policy" => "same-origin",
        "content-security-policy" => "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; " \
                                     "frame-ancestors 'none'; base-uri 'none'"
      }
      [status, headers, [body]]
    end
  end
end
