# frozen_string_literal: true

require "fileutils"

module Holdfast
  # Where continuable jobs keep their progress.
  #
  #   Holdfast.configure do |c|
  #     c.store = "postgres://jobs@db/app"   # a Holdfast::Store, a store URL, a file path, or false
  #     c.durability = { interval: 100 }     # for stores Holdfast opens from a URL or path
  #     c.lease = 15                         # seconds; a dead worker's job is recovered after it
  #   end
  #
  # Unset, it is an SQLite file in the working directory (with Rails, the
  # Railtie sets tmp/holdfast/continuations.sqlite3 under Rails.root, or
  # config.holdfast.store / ENV["HOLDFAST_STORE_URL"]). false keeps progress
  # in the job payload only, as Rails does.
  class Configuration
    DEFAULT_FILE = "holdfast_continuations.sqlite3"

    # +lease+: seconds an execution's lease lasts unless renewed (nil: the
    # store's default, 15). A job whose process died is recovered once its
    # lease runs out.
    # +retention+: seconds a completed record is kept (nil: until pruned).
    # +recovery_timeout+: seconds a recovered job may wait in its queue
    # before recovery may take it again (nil: 3600).
    # +max_recoveries+: recoveries in a row at one cursor before a job is
    # quarantined as a crash loop (nil: 3).
    attr_accessor :store, :durability, :lease, :retention, :recovery_timeout, :max_recoveries

    def initialize
      @store = nil
      @durability = :every_checkpoint
      @lease = nil
      @retention = nil
      @recovery_timeout = nil
      @max_recoveries = nil
    end

    # The options every store Holdfast opens from a URL or path takes.
    def store_options
      { durability: durability, lease: lease, retention: retention, recovery_timeout: recovery_timeout,
        max_recoveries: max_recoveries }
    end
  end

  class << self
    def config
      @config ||= Configuration.new
    end

    # Sets where continuable jobs keep their progress. On Active Job 8.1+,
    # also backs Rails' own ActiveJob::Continuable jobs with the store once
    # Active Job's continuations load (Active Support must be loaded first;
    # otherwise `require "holdfast/continuable"` does it).
    def configure
      yield config
      reset_continuation_store!
      if defined?(::ActiveSupport.on_load) && Continuation.rails_continuations?
        continuable = File.expand_path("continuable", __dir__)
        ::ActiveSupport.on_load(:active_job_continuable) { require continuable }
      end
      config
    end

    # The store continuable jobs use (nil when configured off). Opened on
    # first use, and again in a forked child: an SQLite or PostgreSQL
    # connection must not be shared across fork.
    def continuation_store
      store_mutex.synchronize do
        if @continuation_store_pid && @continuation_store_pid != Process.pid
          # Inherited from the parent: its connections belong to the parent
          # and must never be used or closed here, so it is kept, untouched.
          (@inherited_stores ||= []) << @continuation_store if @continuation_store
          @continuation_store = nil
          @continuation_store_pid = nil
        end
        return @continuation_store if @continuation_store_pid

        @continuation_store = open_configured_store
        @continuation_store_pid = Process.pid
        @continuation_store
      end
    end

    # The store this process opened, if it opened one (never opens it).
    def opened_continuation_store # :nodoc:
      store_mutex.synchronize { @continuation_store if @continuation_store_pid == Process.pid }
    end

    def reset_continuation_store! # :nodoc:
      store_mutex.synchronize do
        @continuation_store = nil
        @continuation_store_pid = nil
      end
    end

    private

    def store_mutex
      @store_mutex ||= Mutex.new
    end

    def open_configured_store
      setting = config.store
      case setting
      when false then nil
      when Store then setting
      when nil
        path = File.expand_path(Configuration::DEFAULT_FILE)
        store = Store.sqlite(path, **config.store_options)
        line = "Holdfast: continuation progress is kept in #{path} (set Holdfast.config.store to change it)"
        logger ? logger.info(line) : warn(line)
        store
      else
        text = setting.to_s
        if Store.url?(text)
          Store.from_url(text, **config.store_options)
        else
          # Directories made for the store are its owner's only, as the
          # store's files are.
          FileUtils.mkdir_p(File.dirname(File.absolute_path(text)), mode: 0o700) unless text.start_with?("~")
          Store.sqlite(text, **config.store_options)
        end
      end
    end
  end
end
