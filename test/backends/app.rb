# frozen_string_literal: true

# The Rails app the job-backend tests run in worker processes: Active Job on
# the adapter JOBS_ADAPTER names (sidekiq, delayed_job, solid_queue,
# good_job, async), Holdfast
# through its Railtie with nothing wired by hand, progress in
# HOLDFAST_STORE_URL, a short lease so recovery is quick to see.
#
# Environment: JOBS_ADAPTER, HOLDFAST_STORE_URL, HOLDFAST_LEASE (s),
# HOLDFAST_RECOVERY_INTERVAL (s), DATABASE_PATH (delayed_job's and Solid
# Queue's SQLite database), DATABASE_URL (GoodJob's PostgreSQL database, and
# Solid Queue's on Active Record 8, whose sqlite3 gem Debian 13 lacks),
# REDIS_URL (Sidekiq). Solid Queue and GoodJob come from the vendored source
# trees (test/backends/vendor.rb puts them on RUBYOPT).
$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
require "logger"
require "rails"
require "active_job/railtie"

ADAPTER = ENV.fetch("JOBS_ADAPTER")
case ADAPTER
when "sidekiq" then require "sidekiq"
when "delayed_job"
  require "active_record/railtie"
  require "delayed_job_active_record"
when "solid_queue"
  require "active_record/railtie"
  require "solid_queue"
when "good_job"
  require "active_record/railtie"
  require "good_job"
end
# As Bundler.require would: after Rails, so the gem brings its Railtie.
require "holdfast"

class BackendsApp < Rails::Application
  config.root = File.expand_path(ENV.fetch("APP_ROOT"))
  config.eager_load = false
  config.logger = Logger.new($stdout, level: Logger::INFO)
  config.secret_key_base = "holdfast-backends-test"
  config.active_job.queue_adapter = ADAPTER.to_sym
  config.holdfast.store = ENV.fetch("HOLDFAST_STORE_URL")
  config.holdfast.lease = Float(ENV["HOLDFAST_LEASE"]) if ENV["HOLDFAST_LEASE"]
  config.holdfast.recovery_interval = Float(ENV["HOLDFAST_RECOVERY_INTERVAL"]) if ENV["HOLDFAST_RECOVERY_INTERVAL"]
  config.holdfast.unwrapped_code = false
  if ADAPTER == "good_job"
    # Jobs run in `good_job start` (external) or in the app's processes
    # (async_all: async mode outside a web server too); poll as well as
    # LISTEN.
    config.good_job.execution_mode = ENV.fetch("GOOD_JOB_EXECUTION_MODE", "external").to_sym
    config.good_job.poll_interval = 1
    config.good_job.max_threads = Integer(ENV.fetch("WORKER_THREADS", "2"))
  end
end

if ADAPTER == "delayed_job" || (ADAPTER == "solid_queue" && !ENV["DATABASE_URL"])
  ENV["DATABASE_URL"] = "sqlite3:#{ENV.fetch("DATABASE_PATH")}?timeout=10000"
end
Rails.application.initialize!
$stdout.sync = true

# The backends' tables, created by the first process (the enqueuer) from
# each backend's own schema template.
if ADAPTER == "solid_queue" && !ActiveRecord::Base.connection.table_exists?(:solid_queue_jobs)
  ActiveRecord::Schema.verbose = false
  root = File.expand_path("..", $LOADED_FEATURES.grep(%r{/solid_queue\.rb\z}).first)
  load File.join(root, "generators/solid_queue/install/templates/db/queue_schema.rb")
  ActiveRecord::Base.connection_pool.disconnect!
end
if ADAPTER == "good_job" && !ActiveRecord::Base.connection.table_exists?(:good_jobs)
  ActiveRecord::Migration.verbose = false
  root = File.expand_path("..", $LOADED_FEATURES.grep(%r{/good_job\.rb\z}).first)
  source = File.read(File.join(root, "generators/good_job/templates/install/migrations/create_good_jobs.rb.erb"))
  # The template's one ERB tag is the migration version.
  migration = File.join(Rails.root, "create_good_jobs.rb")
  File.write(migration, source.sub("<%= migration_version %>", "[#{ActiveRecord::Migration.current_version}]"))
  load migration
  CreateGoodJobs.migrate(:up)
  ActiveRecord::Base.connection_pool.disconnect!
end

if ADAPTER == "delayed_job"
  ActiveRecord::Base.connection.tap do |db|
    unless db.table_exists?(:delayed_jobs)
      db.create_table :delayed_jobs do |t|
        t.integer :priority, default: 0, null: false
        t.integer :attempts, default: 0, null: false
        t.text :handler, null: false
        t.text :last_error
        t.datetime :run_at
        t.datetime :locked_at
        t.datetime :failed_at
        t.string :locked_by
        t.string :queue
        t.timestamps null: true
      end
    end
  end
  ActiveRecord::Base.connection_pool.disconnect!
end

# Counts items 0...items in one step, writing "item time_ms pid" to +log+
# (unbuffered: a SIGKILL loses nothing written) before each checkpoint,
# and "done pid" once the step is over.
class ImportJob < ActiveJob::Base
  include Holdfast::Continuation.rails_continuations? ? ActiveJob::Continuable : Holdfast::Continuable

  def perform(items, log, delay)
    out = File.open(log, "a")
    out.sync = true
    step :import, start: 0 do |step|
      while step.cursor < items
        out.write("#{step.cursor} #{(Time.now.to_f * 1000).round} #{Process.pid}\n")
        sleep delay
        step.advance!
      end
    end
    out.write("done #{Process.pid}\n")
  end
end

# Work queued ahead of a recovered job (the backlog stories): sleeps, then
# writes "filler pid" to +log+.
class FillerJob < ActiveJob::Base
  def perform(seconds, log)
    sleep seconds
    File.write(log, "filler #{Process.pid}\n", mode: "a")
  end
end
