# frozen_string_literal: true

# The import the demo runs: 100,000 rows in a database (Active Record:
# SQLite, or the PostgreSQL at IMPORT_DEMO_DATABASE_URL), processed by a
# continuable job with a validate step, a cursor step and an isolated
# finalize step, in worker processes whose Active Job adapter is :async.
# Holdfast keeps the job's progress in its own SQLite store, so a SIGKILL
# loses at most the last 100 ms, and its payload and lease, so a recovering
# worker re-enqueues the job once the dead worker's lease runs out.
#
# On Active Job 8.1+ the job includes Rails' own ActiveJob::Continuable, and
# Holdfast.configure alone makes its progress durable; before 8.1 it
# includes Holdfast::Continuable, the same API.
require "active_record"
require "active_job"
require "holdfast"

module ImportDemo
  DIR = File.expand_path(ENV.fetch("IMPORT_DEMO_DIR", "../../tmp/import-demo"), __dir__)
  ROWS = Integer(ENV.fetch("IMPORT_DEMO_ROWS", "100000"))
  JOB_ID = "import-demo"
  DATABASE_URL = ENV["IMPORT_DEMO_DATABASE_URL"]

  Holdfast.configure do |config|
    config.store = File.join(DIR, "continuations.sqlite3")
    config.durability = { interval: 100 }
    # Short for the demo, so the recovery is quick to see (default 15 s).
    config.lease = 3
  end
  CONTINUABLE = Holdfast::Continuation.rails_continuations? ? ActiveJob::Continuable : Holdfast::Continuable

  def self.connect
    ActiveRecord::Base.logger = nil
    ActiveJob::Base.logger = Logger.new(nil)
    ActiveJob::Base.queue_adapter = :async
    if DATABASE_URL
      ActiveRecord::Base.establish_connection(DATABASE_URL)
    else
      ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: File.join(DIR, "import.sqlite3"))
      # WAL without an fsync per row: committed rows survive a process kill
      # (not a power loss), which is what the demo does to it.
      ActiveRecord::Base.connection.execute("PRAGMA journal_mode = WAL")
      ActiveRecord::Base.connection.execute("PRAGMA synchronous = NORMAL")
    end
  rescue LoadError => e
    # Active Record 8 needs the sqlite3 gem 2.1+, which Debian 13 lacks.
    abort "#{e.message}\nSet IMPORT_DEMO_DATABASE_URL to a PostgreSQL database to run the demo without it."
  end

  def self.create
    FileUtils.rm_rf(DIR)
    FileUtils.mkdir_p(DIR)
    connect
    ActiveRecord::Schema.verbose = false
    ActiveRecord::Schema.define do
      create_table(:holdfast_demo_imports, force: true) do |t|
        t.datetime :validated_at
        t.datetime :finalized_at
        t.integer :processed
      end
      create_table(:holdfast_demo_rows, force: true) do |t|
        t.integer :import_id, null: false
        t.string :payload, null: false
        t.integer :processed_count, null: false, default: 0
      end
    end
    import = Import.create!
    ROWS.times.each_slice(10_000) do |slice|
      Row.insert_all(slice.map { |i| { import_id: import.id, payload: "row #{i}", processed_count: 0 } })
    end
    import
  end

  class Import < ActiveRecord::Base
    self.table_name = "holdfast_demo_imports"
  end

  class Row < ActiveRecord::Base
    self.table_name = "holdfast_demo_rows"
  end

  class ImportJob < ActiveJob::Base
    include CONTINUABLE
    # Resume right away after the isolated step's interrupt.
    self.resume_options = {}

    def perform(import_id)
      @import = Import.find(import_id)
      rows = Row.where(import_id: import_id)

      step :validate do
        raise "import #{import_id} has no rows" unless rows.exists?

        @import.update!(validated_at: Time.now)
      end

      step :process, start: 0 do |step|
        say "resuming 'process' from its durable cursor: row #{step.cursor}" if step.resumed?
        rows.where("id > ?", step.cursor).order(:id).find_each(batch_size: 2_000) do |row|
          row.update_columns(processed_count: row.processed_count + 1)
          step.advance! from: row.id
          say "progress #{row.id}" if (row.id % 2_000).zero?
        end
      end

      step :finalize, isolated: true do
        say "finalize runs in an execution of its own (resumption #{resumptions})"
        @import.update!(finalized_at: Time.now, processed: rows.where("processed_count > 0").count)
      end
    end

    private

    def say(line)
      $stdout.write("#{line}\n")
      $stdout.flush
    end
  end
end
