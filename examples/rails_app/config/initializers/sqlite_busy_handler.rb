# frozen_string_literal: true

# SQLite's own busy_timeout waits inside C holding Ruby's GVL, so a thread
# waiting for the write lock stops the very thread that holds it from
# committing, until the timeout raises "database is locked". Rails 7.1 fixed
# this with a Ruby busy handler (and WAL by default); before 7.1 the app
# installs one: it sleeps (releasing the GVL) between retries, up to the
# configured timeout.
ActiveSupport.on_load(:active_record) do
  next if ActiveRecord.version >= Gem::Version.new("7.1")

  require "active_record/connection_adapters/sqlite3_adapter"

  ActiveRecord::ConnectionAdapters::SQLite3Adapter.prepend(Module.new do
    def configure_connection
      super
      max_retries = (@config[:timeout] || 5000).to_i # one per millisecond
      @connection.busy_handler do |retries|
        next false if retries >= max_retries

        sleep(0.001)
        true
      end
      execute("PRAGMA journal_mode = WAL", "SCHEMA")
    end
  end)
end
