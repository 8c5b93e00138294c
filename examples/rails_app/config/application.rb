# frozen_string_literal: true

require_relative "boot"
require "rails"
require "active_record/railtie"
require "action_controller/railtie"
require "active_job/railtie"
require "holdfast/rails"

module HoldfastExample
  # A small Rails app (6.1 to 8.1) on SQLite, or PostgreSQL through
  # DATABASE_URL (Active Record 8 on Debian 13), that gets Holdfast from its Railtie:
  # Rails' executor, reloader and interlock run on Holdfast's core.
  class Application < Rails::Application
    config.load_defaults 6.1
    config.eager_load = false
    config.hosts.clear
    config.active_job.queue_adapter = :async
    config.cache_store = :memory_store
    config.logger = ActiveSupport::Logger.new(File.join(root, "log", "#{Rails.env}.log"))
    config.log_level = :info

    if Rails.env.production?
      config.cache_classes = true
      config.eager_load = true
      config.secret_key_base = "holdfast-example-not-secret"
    end

    # A lock wait (the reload waiting for requests, say) longer than this is
    # logged and instrumented as long_wait.holdfast.
    config.holdfast.lock_wait_threshold = 10

    # Rails 8.0 and 8.1 draw routes on the first request when eager_load is
    # off, and that draw is not thread-safe (rails/rails#58225, fixed after
    # 8.1.3): concurrent first requests can get a 404, with or without
    # Holdfast. Draw them at boot instead.
    config.after_initialize do |app|
      reloader = app.routes_reloader
      reloader.execute_unless_loaded if reloader.respond_to?(:execute_unless_loaded)
    end

    # Uncomment to make unwrapped application code an error:
    # config.holdfast.unwrapped_code = :raise
  end
end
