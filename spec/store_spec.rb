# frozen_string_literal: true

require "tmpdir"
require "sqlite3"
require "securerandom"

RSpec.describe Holdfast::Store do
  around do |example|
    Dir.mktmpdir("holdfast-store-spec") do |dir|
      @dir = dir
      example.run
    end
  end

  def postgres_url
    ENV.fetch("HOLDFAST_TEST_POSTGRES_URL") do
      raise "HOLDFAST_TEST_POSTGRES_URL is not set: the PostgreSQL examples need the server bin/test starts " \
            "(export HOLDFAST_TEST_POSTGRES_URL=$(bin/test-postgres start))"
    end
  end

  # Random per run (not per seed: PostgreSQL's table outlives the process).
  let(:job_id) { "job-#{SecureRandom.hex(8)}" }

  stores = {
    "SQLite" => ->(dir, **options) { described_class.sqlite(File.join(dir, "store.sqlite3"), **options) },
    "PostgreSQL" => ->(_dir, **options) { described_class.postgres(ENV.fetch("HOLDFAST_TEST_POSTGRES_URL") { raise "HOLDFAST_TEST_POSTGRES_URL is not set (bin/test starts the server)" }, **options) },
    "memory" => ->(_dir, **options) { described_class.memory(**options) }
  }

  stores.each do |backend, open|
    context "on #{backend}" do
      let(:store) { open.call(@dir) }

      it "begins, checkpoints, resumes with a newer token, and completes" do
        execution = store.begin_execution(job_id, Class.new { def self.name = "ImportJob" })
        expect(execution.progress).to be_nil
        # A fresh record's token starts above every token the store ever
        # handed out (discarded records included): 1 on a new store.
        first = execution.token
        expect(first).to be >= 1
        expect([execution.resumptions, execution.job_class]).to eq([0, "ImportJob"])
        execution.checkpoint(completed: ["validate"], current: ["process", '{"id":42}'])

        record = store.get(job_id)
        expect(record).to include("job_id" => job_id, "job_class" => "ImportJob", "completed" => ["validate"],
                                   "current" => ["process", '{"id":42}'], "resumptions" => 0, "completed_at" => nil)
        expect(record["updated_at"]).to be_a(Time).and be_within(60).of(Time.now)

        resumed = store.begin_execution(job_id, "ImportJob")
        expect(resumed.token).to eq(first + 1)
        expect(resumed.progress).to include("completed" => ["validate"], "current" => ["process", '{"id":42}'],
                                            "resumptions" => 1)
        expect { execution.checkpoint(current: ["process", "43"]) }
          .to raise_error(Holdfast::Continuation::StaleExecutionError, /execution #{first} of job .* is stale: execution #{first + 1} owns/)
        expect(store.get(job_id)["current"]).to eq(["process", '{"id":42}'])
        expect(store.get(job_id)["cursor"]).to eq('{"id":42}')
        resumed.checkpoint(completed: ["validate"], current: ["process", "[501]"])
        expect(store.get(job_id)).to include("current" => ["process", "[501]"], "cursor" => 501)

        resumed.checkpoint(completed: %w[validate process])
        resumed.complete
        expect(store.get(job_id)).to include("completed" => %w[validate process], "current" => nil)
        expect(store.get(job_id)["completed_at"]).to be_a(Time)
        expect(store.get("no-such-job")).to be_nil
      end

      it "lists by state and class, newest first, and prunes only completed records" do
        klass = "ListJob#{SecureRandom.hex(6)}"
        ids = Array.new(3) { |i| "#{job_id}-#{i}" }
        executions = ids.map { |id| store.begin_execution(id, klass).tap { |e| e.checkpoint(current: ["s", id]) } }
        executions.first.complete
        in_flight = store.list(state: :in_flight, job_class: klass)
        expect(in_flight.map { |r| r["job_id"] }).to eq(ids.drop(1).reverse)
        expect(store.list(state: :in_flight, job_class: klass, order: :oldest_first, limit: 1).map { |r| r["job_id"] })
          .to eq([ids[1]])
        expect(store.list(state: :completed, job_class: klass).size).to eq(1)
        expect(store.prune(completed_before: Time.at(0))).to eq(0)
        expect(store.prune).to be >= 1
        expect(store.list(state: :any, job_class: klass).map { |r| r["job_id"] }).to match_array(ids.drop(1))
      end

      it "refuses oversized values and non-String cursors, writing nothing" do
        execution = store.begin_execution(job_id, "Job")
        execution.checkpoint(current: ["s", "1"])
        expect { execution.checkpoint(current: ["s", "x" * 65_537]) }
          .to raise_error(Holdfast::LimitError, /cursor is 65537 bytes, over the limit of 65536; nothing was written/)
        expect { execution.checkpoint(current: ["s", 42]) }
          .to raise_error(ArgumentError, "the cursor must be a String (serialize it first, e.g. to JSON), got Integer")
        expect { store.begin_execution("", "Job") }.to raise_error(ArgumentError, /job id is empty/)
        expect { store.begin_execution("x" * 256, "Job") }.to raise_error(Holdfast::LimitError, /job id is 256 bytes/)
        expect(store.get(job_id)["current"]).to eq(%w[s 1])
      end

      it "refuses ids and names that are not Strings, a current of three elements and NUL bytes, writing nothing" do
        execution = store.begin_execution(job_id, "Job")
        execution.checkpoint(current: ["s", "1"])
        [{ id: 1 }, Object.new, 42, nil].each do |bad|
          expect { store.begin_execution(bad, "Job") }.to raise_error(ArgumentError, /\Athe job id must be a String, got /)
          expect { store.get(bad) }.to raise_error(ArgumentError, /\Athe job id must be a String/)
          next if bad.nil? # no current step (and so no cursor) is valid

          expect { execution.checkpoint(current: [bad, "2"]) }.to raise_error(ArgumentError, /\Athe step name must be a String/)
          expect { execution.checkpoint(completed: [bad]) }.to raise_error(ArgumentError, /\Athe step name must be a String/)
        end
        expect { store.begin_execution(job_id, 7) }.to raise_error(ArgumentError, /\Athe job class must be a String/)
        expect { execution.checkpoint(current: ["s", "2", "extra"]) }
          .to raise_error(ArgumentError, /\Acurrent must be nil or \[step_name, cursor\], got \["s", "2", "extra"\]/)
        expect { execution.checkpoint(completed: "s") }.to raise_error(ArgumentError, /completed must be an Array/)
        expect { execution.checkpoint(current: ["a\0b", "2"]) }.to raise_error(ArgumentError, /NUL/)
        expect { store.begin_execution("a\0b", "Job") }.to raise_error(ArgumentError, /NUL/)
        expect(store.get(job_id)["current"]).to eq(%w[s 1])
        execution.checkpoint(current: [:s, "3"])
        expect(store.get(job_id)["current"]).to eq(%w[s 3])
        execution.complete
        expect { execution.checkpoint(current: ["s", "4"]) }.to raise_error(ArgumentError, /already completed its record/)
        record = store.get(job_id)
        expect(record["completed_at"]).not_to be_nil
        expect(record["current"]).to eq(%w[s 3])
      end
    end
  end

  it "keeps the extension's entry points private" do
    store = described_class.memory
    expect { store.__get("a") }.to raise_error(NoMethodError, /private method/)
    expect { described_class.__open_memory(nil) }.to raise_error(NoMethodError, /private method/)
    expect { store.begin_execution("a", "Job").__release(true) }.to raise_error(NoMethodError, /private method/)
  end

  it "opens from URLs and refuses anything else without showing a password" do
    expect(described_class.from_url("sqlite://#{@dir}/a.sqlite3").location).to eq("SQLite store #{@dir}/a.sqlite3")
    expect(described_class.from_url("memory:").location).to eq("memory store")
    expect(described_class.from_url(postgres_url).location).to start_with("PostgreSQL store postgres://")
    expect { described_class.from_url("mysql://app:hunter2@db/jobs") }
      .to raise_error(ArgumentError, %r{"mysql://app:\*\*\*@db/jobs" is not a store URL})
    expect { described_class.postgres("postgres://app:hunter2@127.0.0.1:1/x?connect_timeout=2") }
      .to raise_error(Holdfast::StoreError) { |e|
        expect(e.message).to include("app:***@")
        expect(e.message).not_to include("hunter2")
      }
  end

  it "reads store URLs and paths by one documented rule" do
    Dir.chdir(@dir) do
      expect(described_class.from_url("sqlite:rel.sqlite3").location).to eq("SQLite store #{File.realpath(@dir)}/rel.sqlite3")
      expect(described_class.from_url("sqlite://sub%20dir.sqlite3").location)
        .to eq("SQLite store #{File.realpath(@dir)}/sub dir.sqlite3")
      expect(described_class.from_url("sqlite://#{@dir}/abs.sqlite3").location).to eq("SQLite store #{@dir}/abs.sqlite3")
      expect(described_class.sqlite("a:b.sqlite3").location).to eq("SQLite store #{File.realpath(@dir)}/a:b.sqlite3")
    end
    expect(described_class.url?("tmp/a:b.sqlite3")).to be(false)
    expect(described_class.url?("sqlite:tmp/x")).to be(true)
    expect { described_class.from_url("sqlite://:memory:") }.to raise_error(ArgumentError, /use memory: for a store in memory/)
    expect { described_class.from_url("sqlite://~/x.sqlite3") }.to raise_error(ArgumentError, /~ is not expanded/)
    expect { described_class.sqlite("~/x.sqlite3") }.to raise_error(ArgumentError, /pass File.expand_path/)
    expect { described_class.from_url("sqlite://") }.to raise_error(ArgumentError, /names no file/)
    expect { described_class.from_url("sqlite:///tmp/x?mode=ro") }.to raise_error(ArgumentError, /escape them as %3F/)
    expect { described_class.sqlite(42) }.to raise_error(ArgumentError, /must be a String or Pathname/)
    expect(Dir.exist?(File.join(@dir, "~"))).to be(false)
  end

  it "hides every spelling of a password and refuses unknown sslmodes before connecting" do
    {
      "host=127.0.0.1 port=1 password = hunter2 connect_timeout=1" => "password=***",
      "host=127.0.0.1 port=1 password='hunter 2' connect_timeout=1" => "password=***",
      "postgres://app@127.0.0.1:1/x?sslpassword=hunter2&connect_timeout=1" => "sslpassword=***"
    }.each do |conninfo, shown|
      expect(Holdfast::Store.redact(conninfo)).to include(shown)
      expect(Holdfast::Store.redact(conninfo)).not_to include("hunter")
      expect { described_class.postgres(conninfo) }.to raise_error(StandardError) { |e|
        expect(e).to be_a(Holdfast::StoreError).or be_a(ArgumentError)
        expect(e.message).to include(shown)
        expect(e.message).not_to include("hunter")
      }
    end
    expect { described_class.postgres("postgres://app:hunter2@127.0.0.1:1/x?sslmode=verify") }
      .to raise_error(ArgumentError, /sslmode=verify is not a mode/) { |e| expect(e.message).not_to include("hunter2") }
  end

  it "makes the directories of a configured store path owner-only" do
    before = Holdfast.config.store
    Holdfast.config.store = File.join(@dir, "made", "here", "store.sqlite3")
    Holdfast.reset_continuation_store!
    store = Holdfast.continuation_store
    expect(File.stat(File.join(@dir, "made", "here")).mode & 0o777).to eq(0o700)
    expect(File.stat(File.join(@dir, "made", "here", "store.sqlite3")).mode & 0o777).to eq(0o600)
    store.close
  ensure
    Holdfast.config.store = before
    Holdfast.reset_continuation_store!
  end

  it "names durabilities back and refuses unknown ones" do
    expect(described_class.memory(durability: { interval: 100 }).durability).to eq(interval: 100)
    expect(described_class.memory(durability: :step_boundaries).durability).to eq(:step_boundaries)
    expect(described_class.memory.durability).to eq(:every_checkpoint)
    expect { described_class.memory(durability: :sometimes) }
      .to raise_error(ArgumentError, /durability must be :every_checkpoint, :step_boundaries or \{ interval: milliseconds \}/)
    expect { described_class.memory(durability: { interval: 0 }) }
      .to raise_error(ArgumentError, "durability interval must be a number of milliseconds from 1 to 315360000000, got 0")
    expect(described_class.memory(durability: { interval: 0.6 }).durability).to eq(interval: 1)
    expect { described_class.memory(durability: { interval: 0.4 }) }
      .to raise_error(ArgumentError, /durability interval must be a number of milliseconds from 1 .* got 0.4\z/)
    [Float::INFINITY, Float::NAN, 1e20, "5", Complex(1, 1)].each do |bad|
      expect { described_class.memory(durability: { interval: bad }) }
        .to raise_error(ArgumentError, /durability interval must be a number of milliseconds .* got #{Regexp.escape(bad.inspect)}/)
    end
    expect { described_class.sqlite(File.join(@dir, "x"), busy_timeout: 2_147_484) }
      .to raise_error(ArgumentError, /busy_timeout must be a number of seconds from 0.0 to 2147483.647, got 2147484/)
    expect { described_class.memory(retention: Float::INFINITY) }.to raise_error(ArgumentError, /retention/)
    expect { described_class.sqlite(File.join(@dir, "x"), synchronous: :off) }.to raise_error(ArgumentError, /:full or :normal/)
  end

  it "writes behind under interval durability and flushes on close" do
    path = File.join(@dir, "behind.sqlite3")
    store = described_class.sqlite(path, durability: { interval: 60_000 })
    reader = described_class.sqlite(path)
    execution = store.begin_execution(job_id, "Job")
    execution.checkpoint(current: ["s", "1"]) # entering a step: a boundary, written at once
    execution.checkpoint(current: ["s", "2"]) # a cursor move: behind
    expect(store.get(job_id)["current"]).to eq(%w[s 2])
    expect(reader.get(job_id)["current"]).to eq(%w[s 1])
    store.close
    expect(reader.get(job_id)["current"]).to eq(%w[s 2])
    expect { store.get(job_id) }.to raise_error(Holdfast::StoreClosedError, /is closed; open the store again/)
  end

  it "gives a file that is not a database a clear error and leaves it alone" do
    path = File.join(@dir, "notes.txt")
    File.write(path, "not a database\n" * 100)
    expect { described_class.sqlite(path) }
      .to raise_error(Holdfast::NotADatabaseError, /#{Regexp.escape(path)} is not a Holdfast store/)
    expect(File.read(path)).to eq("not a database\n" * 100)
  end

  it "refuses a record changed behind its back with CorruptStoreError naming the file and the job" do
    path = File.join(@dir, "damaged.sqlite3")
    store = described_class.sqlite(path)
    store.begin_execution(job_id, "Job").checkpoint(current: ["s", "[42]"])
    store.close
    SQLite3::Database.new(path) { |db| db.execute("UPDATE holdfast_continuations SET cursor = '[43]'") }
    store = described_class.sqlite(path)
    expect { store.get(job_id) }.to raise_error(Holdfast::CorruptStoreError) { |error|
      expect(error.message).to start_with("SQLite store #{path}: the record of job #{job_id.inspect} is corrupt")
    }
    expect { store.begin_execution(job_id, "Job") }.to raise_error(Holdfast::CorruptStoreError)
  end

  # Another process (SQLite's locks are per process) holds the write lock;
  # the checkpoint waits for it in SQLite's busy handler with the GVL
  # released, so this thread keeps running Ruby meanwhile.
  it "waits for another process's write lock without holding the GVL" do
    path = File.join(@dir, "busy.sqlite3")
    store = described_class.sqlite(path, busy_timeout: 30)
    execution = store.begin_execution(job_id, "Job")
    locker = IO.popen([RbConfig.ruby, "-rsqlite3", "-e", <<~RUBY, path], "r+")
      db = SQLite3::Database.new(ARGV[0])
      db.execute("BEGIN IMMEDIATE")
      puts "locked"
      $stdout.flush
      $stdin.gets
      db.execute("COMMIT")
    RUBY
    expect(Timeout.timeout(Bounded::WAIT) { locker.gets }).to eq("locked\n")
    writer = Thread.new do
      execution.checkpoint(current: ["s", "1"])
      :written
    end
    # This thread gets here, running Ruby, while the writer is still blocked.
    Timeout.timeout(Bounded::WAIT) { Thread.pass until writer.stop? || !writer.alive? }
    expect(writer).to be_alive
    locker.puts
    expect(join_within(writer).value).to eq(:written)
    expect(store.get(job_id)["current"]).to eq(%w[s 1])
  ensure
    locker&.close
  end

end

RSpec.describe "Store durations with ActiveSupport loaded" do
  it "reads an interval in milliseconds and a Duration as what it says" do
    require "active_support/core_ext/numeric/time"
    expect(Holdfast::Store.memory(durability: { interval: 50 }).durability).to eq(interval: 50)
    expect(Holdfast::Store.memory(durability: { interval: 2.seconds }).durability).to eq(interval: 2000)
  end
end
