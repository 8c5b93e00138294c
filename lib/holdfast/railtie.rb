# frozen_string_literal: true

require "rails"
require_relative "../holdfast"
require_relative "unwrapped_code"

module Holdfast
  # Rails integration, added by `require "holdfast/rails"` or by requiring
  # the gem once Rails is loaded (Bundler.require). Settings:
  #
  #   config.holdfast.back_active_support  # true: Rails' executor, reloader,
  #                                        # share locks and interlock run on Holdfast
  #   config.holdfast.unwrapped_code       # :warn (development, test), false
  #                                        # (other environments), or :raise
  #   config.holdfast.lock_wait_threshold  # seconds; a longer lock wait is
  #                                        # logged and instrumented (long_wait.holdfast)
  #   config.holdfast.store                # where continuable jobs keep progress: a
  #                                        # Holdfast::Store, a URL, a path, or false;
  #                                        # default ENV["HOLDFAST_STORE_URL"], else
  #                                        # tmp/holdfast/continuations.sqlite3
  #   config.holdfast.durability           # :every_checkpoint (default),
  #                                        # :step_boundaries or { interval: ms }
  #   config.holdfast.lease                # seconds (default 15): a job whose process
  #                                        # died is recovered once its lease runs out
  #   config.holdfast.recovery             # true (default): processes that perform
  #                                        # jobs (Sidekiq, delayed_job, :async) re-enqueue
  #                                        # orphans; false: only Holdfast.recover_orphans!
  #   config.holdfast.recovery_interval    # seconds between recovery passes (default 5)
  #   config.holdfast.retention            # seconds completed records are kept (default:
  #                                        # until pruned)
  #   config.holdfast.recovery_timeout     # seconds a recovered job may wait in its queue
  #                                        # before recovery may take it again (default 3600)
  #   config.holdfast.max_recoveries       # recoveries in a row at one cursor before a
  #                                        # crash-looping job is quarantined (default 3)
  #   config.holdfast.lock_snapshots       # true (SIGURG), a signal name, or false: how
  #                                        # `holdfast locks PID` asks this process
  #
  # back_active_support belongs in config/application.rb; the others may
  # also be set in config/initializers (rails g holdfast:install).
  class Railtie < ::Rails::Railtie
    config.holdfast = ::ActiveSupport::OrderedOptions.new
    config.holdfast.back_active_support = true
    config.holdfast.unwrapped_code = nil
    config.holdfast.lock_wait_threshold = nil
    config.holdfast.store = nil
    config.holdfast.durability = :every_checkpoint
    config.holdfast.lease = nil
    config.holdfast.recovery = true
    config.holdfast.recovery_interval = 5
    config.holdfast.retention = nil
    config.holdfast.recovery_timeout = nil
    config.holdfast.max_recoveries = nil
    config.holdfast.lock_snapshots = true

    class << self
      # The running detector (nil when unwrapped_code is off).
      attr_accessor :unwrapped_code
    end

    # On a Rails whose Active Support Holdfast has not been proven with, the
    # app boots on Rails' own executor and interlock, with a warning.
    initializer "holdfast.active_support" do |app|
      next unless app.config.holdfast.back_active_support

      begin
        require_relative "active_support"
      rescue UnsupportedVersionError => e
        (::Rails.logger || Logger.new($stderr)).warn("[Holdfast] #{e.message}")
      end
    end

    initializer "holdfast.logger", after: :initialize_logger do
      Holdfast.logger ||= ::Rails.logger
    end

    # The store opens on first use, in each process (never before a fork).
    # Read after config/initializers, so the settings may live there (as
    # `rails g holdfast:install` writes them).
    initializer "holdfast.continuations", after: :load_config_initializers do |app|
      # OrderedOptions is a Hash: `.store` would be Hash#store, so read by key.
      settings = app.config.holdfast
      Holdfast.configure do |config|
        config.store = if settings[:store].nil?
                         ENV["HOLDFAST_STORE_URL"] || ::Rails.root.join("tmp", "holdfast", "continuations.sqlite3").to_s
                       else
                         settings[:store]
                       end
        config.durability = settings[:durability]
        config.lease = settings[:lease]
        config.retention = settings[:retention]
        config.recovery_timeout = settings[:recovery_timeout]
        config.max_recoveries = settings[:max_recoveries]
      end
      ::ActiveSupport.on_load(:active_job) { require_relative "continuable" }
    end

    # Stops and recovery for the job backends this app runs on (see
    # Holdfast::Backends), after the app's initializers configured them.
    initializer "holdfast.backends", after: :load_config_initializers do |app|
      settings = app.config.holdfast
      Backends.install(recovery: settings[:recovery], interval: settings[:recovery_interval])
    end

    config.after_initialize do
      ::ActiveSupport.on_load(:active_job) { Backends.adapter_ready(queue_adapter) }
    end

    initializer "holdfast.lock_wait_threshold", after: :load_config_initializers do |app|
      threshold = app.config.holdfast.lock_wait_threshold
      Holdfast.lock_wait_threshold = threshold if threshold
    end

    # `holdfast locks PID` asks a process for its lock state with a signal
    # (SIGURG unless set; a process without the handler ignores it).
    initializer "holdfast.lock_snapshots", after: :load_config_initializers do |app|
      signal = app.config.holdfast.lock_snapshots
      Holdfast.serve_lock_snapshots!(*(signal == true ? [] : [signal])) if signal
    end

    rake_tasks { load File.expand_path("tasks/holdfast.rake", __dir__) }

    config.after_initialize do |app|
      mode = app.config.holdfast.unwrapped_code
      mode = ::Rails.env.development? || ::Rails.env.test? ? :warn : false if mode.nil?
      detector = UnwrappedCode.new(executor: app.executor, mode: mode, root: ::Rails.root, logger: ::Rails.logger,
                                   name: "Rails.application.executor")
      Railtie.unwrapped_code = mode ? detector : nil
      UnwrappedCodeHooks.install if mode
    end
  end

  # Where Rails calls into the detector: Active Record connection checkout
  # and queries, and Rails.cache operations (through their notifications,
  # whose start runs before the operation, so :raise stops it).
  module UnwrappedCodeHooks
    CACHE_EVENTS = /\Acache_[a-z_?]+\.active_support\z/.freeze

    # A notifications listener that checks when an operation starts. Active
    # Record's SCHEMA queries are the framework's own (connection set-up,
    # column lookups), made on behalf of a call already checked.
    class Listener
      def initialize(what)
        @what = what
      end

      def start(_name, _id, payload)
        Railtie.unwrapped_code&.check(@what) unless payload[:name] == "SCHEMA"
      end

      def finish(_name, _id, _payload); end
    end

    # Prepended to ActiveRecord::ConnectionAdapters::ConnectionPool.
    module Checkout
      def checkout(*)
        Railtie.unwrapped_code&.check("Active Record connection checkout")
        super
      end
    end

    class << self
      def install
        return if @installed

        @installed = true
        ::ActiveSupport::Notifications.subscribe("sql.active_record", Listener.new("Active Record query"))
        ::ActiveSupport::Notifications.subscribe(CACHE_EVENTS, Listener.new("Rails.cache access"))
        ::ActiveSupport.on_load(:active_record) do
          ::ActiveRecord::ConnectionAdapters::ConnectionPool.prepend(Checkout)
        end
      end
    end
  end
end
