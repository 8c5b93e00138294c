# frozen_string_literal: true

require "json"

module Chaos
  # The harness's damaged record: an orphan (its process died in flight,
  # so recovery would claim it once its lease ran out) whose stored steps
  # are then overwritten with text that is not JSON, as a bad disk sector,
  # a botched manual edit or a bug elsewhere would leave it. Recovery must
  # skip it and carry on; the list must show it as damaged.
  module Damage
    module_function

    def plant(kind, job_id)
      pid = fork do
        store = Chaos.open_store
        job = ChaosJob.new(1, 0, nil)
        job.job_id = job_id
        store.begin_execution(job_id, "ChaosJob", payload: JSON.generate(job.serialize))
        Process.kill(:KILL, Process.pid) # dies holding the lease
      end
      Process.wait(pid)
      kind == "sqlite" ? corrupt_sqlite(job_id) : corrupt_postgres(job_id)
    end

    def corrupt_sqlite(job_id)
      require "sqlite3"
      path = ENV.fetch("HOLDFAST_STORE_URL").delete_prefix("sqlite://")
      database = SQLite3::Database.new(path)
      database.execute("UPDATE holdfast_continuations SET completed_steps = ? WHERE job_id = ?", ["[\"first\" !", job_id])
      raise "chaos: the damaged record #{job_id} was not written" unless database.changes == 1
    ensure
      database&.close
    end

    def corrupt_postgres(job_id)
      with_postgres(ENV.fetch("HOLDFAST_STORE_URL")) do |connection|
        done = connection.exec_params("UPDATE #{ENV.fetch("CHAOS_TABLE")} SET completed_steps = $1 WHERE job_id = $2",
                                      ["[\"first\" !", job_id])
        raise "chaos: the damaged record #{job_id} was not written" unless done.cmd_tuples == 1
      end
    end

    def drop_table(url, table)
      with_postgres(url) do |connection|
        connection.exec("DROP TABLE IF EXISTS #{table}")
        connection.exec_params("DELETE FROM holdfast_store_meta WHERE store_table = $1", [table])
      end
    end

    def with_postgres(url)
      require "pg"
      connection = PG.connect(url)
      yield connection
    ensure
      connection&.close
    end
  end
end
