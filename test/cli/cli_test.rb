# frozen_string_literal: true

# The `holdfast` command driven as a user would: a subprocess, its output
# and exit code, against SQLite and PostgreSQL stores holding jobs in every
# state (running, orphaned, queued, completed); recover inside an app; the
# rake tasks; the install generator; `locks PID` against a live process.
require "minitest/autorun"
require "open3"
require "tmpdir"
require "json"
require "rbconfig"
require "socket"
$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
require "holdfast"

module CLIHelpers
  ROOT = File.expand_path("../..", __dir__)
  EXE = File.join(ROOT, "exe", "holdfast")

  # [stdout, stderr, exit code]
  def holdfast(*args, env: {}, chdir: Dir.tmpdir)
    command = ["timeout", "-s", "KILL", "120", RbConfig.ruby, "-I#{ROOT}/lib", EXE, *args]
    out, err, status = Open3.capture3({ "HOLDFAST_STORE_URL" => nil }.merge(env), *command, chdir: chdir)
    [out, err, status.exitstatus]
  end

  def payload(id)
    JSON.generate("job_class" => "ImportJob", "job_id" => id, "queue_name" => "imports", "priority" => 5,
                  "arguments" => [42], "executions" => 1, "enqueued_at" => "2026-12-04T16:00:00Z")
  end

  # Jobs in every state in the store at +url+ (opened twice: a 1 s lease
  # for the orphan, the default for the running job, whose heartbeat this
  # process keeps alive until +close+).
  def populate(url)
    @live = Holdfast::Store.from_url(url)
    running = @live.begin_execution("running-1", "ImportJob", payload: payload("running-1"))
    running.checkpoint(completed: ["validate"], current: ["process", "[120]"])
    short = Holdfast::Store.from_url(url, lease: 1)
    orphan = short.begin_execution("orphan-1", "ImportJob", payload: payload("orphan-1"))
    orphan.checkpoint(completed: ["validate"], current: ["process", "[3000]"])
    orphan.release(keep_lease: true)
    queued = short.begin_execution("queued-1", "MailJob", payload: payload("queued-1"))
    queued.checkpoint(current: ["send", "[7]"])
    queued.release
    done = short.begin_execution("done-1", "ImportJob", payload: payload("done-1"))
    done.checkpoint(completed: %w[validate process])
    done.complete
    short.close
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    sleep 0.05 until @live.get("orphan-1")["lease_expires_at"] <= Time.now ||
                     Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
  end

  def ids(text)
    text.lines.drop(1).map { |line| line.split.first }
  end

  # Every command against the store at +location+ (what --store takes).
  def check_commands(location)
    out, err, code = holdfast("list", "--store", location)
    assert_equal 0, code, err
    assert_equal %w[queued-1 orphan-1 running-1], ids(out), out
    assert_match(/\AJOB ID\s+CLASS\s+STATE\s+STEP\s+CURSOR\s+RESUMED\s+LEASE\s+UPDATED/, out)
    assert_match(/^orphan-1\s+ImportJob\s+orphaned\s+process\s+3000\s+0\s+ran out \d+s ago/, out)
    assert_match(/^running-1\s+ImportJob\s+running\s+process\s+120\s+0\s+\d+s left/, out)
    assert_match(/^queued-1\s+MailJob\s+queued\s+send\s+7\s+0\s+-/, out)

    out, = holdfast("list", "--store", location, "--state", "orphaned")
    assert_equal %w[orphan-1], ids(out)
    out, = holdfast("list", "--store", location, "--state", "completed")
    assert_equal %w[done-1], ids(out)
    out, = holdfast("list", "--store", location, "--state", "any", "--job-class", "MailJob")
    assert_equal %w[queued-1], ids(out)
    out, _, code = holdfast("list", "--store", location, "--state", "any", "--format", "json")
    assert_equal 0, code
    records = JSON.parse(out).to_h { |r| [r["job_id"], r] }
    assert_equal({ "orphan-1" => "orphaned", "running-1" => "running", "queued-1" => "queued", "done-1" => "completed" },
                 records.transform_values { |r| r["state"] })
    assert_equal 3000, records["orphan-1"]["cursor"]
    assert_equal "imports", records["orphan-1"]["payload"]["queue_name"]

    out, err, code = holdfast("show", "orphan-1", "--store", location)
    assert_equal 0, code, err
    assert_match(/^state\s+orphaned$/, out)
    assert_match(/^steps done\s+validate$/, out)
    assert_match(/^current step\s+process$/, out)
    assert_match(/^cursor\s+3000$/, out)
    assert_match(/^lease\s+#{Regexp.escape(Socket.gethostname)}:#{Process.pid}:\h+, ran out \d+s ago$/, out)
    assert_match(/^payload\s+ImportJob on queue "imports" priority 5, executions 1, enqueued 2026-12-04T16:00:00Z$/, out)
    assert_match(/^arguments\s+\[42\]$/, out)
    _, err, code = holdfast("show", "no-such-job", "--store", location)
    assert_equal [3, "holdfast: no record for job \"no-such-job\" in #{@live.location}\n"], [code, err]

    token = @live.get("orphan-1")["token"]
    out, _, code = holdfast("recover", "--dry-run", "--store", location)
    assert_equal 0, code
    assert_match(/\A1 orphan to recover \(dry run: nothing claimed\)\n/, out)
    assert_equal %w[orphan-1], ids(out.lines.drop(1).join)
    assert_equal token, @live.get("orphan-1")["token"], "a dry run claims nothing"
    _, err, code = holdfast("recover", "--store", location)
    assert_equal 2, code
    assert_match(/recover re-enqueues through the app's Active Job adapter: run it in the Rails app's directory/, err)

    assert_equal ["discarded queued-1\n", "", 0], holdfast("discard", "queued-1", "--store", location)
    _, err, code = holdfast("discard", "queued-1", "--store", location)
    assert_equal [3, "holdfast: no record for job \"queued-1\" in #{@live.location}\n"], [code, err]
    assert_nil @live.get("queued-1")

    out, _, code = holdfast("prune", "--completed-before", "1h", "--store", location)
    assert_equal [0, "pruned 0 records"], [code, out[/\Apruned \d+ records?/]]
    out, _, code = holdfast("prune", "--completed-before", "0s", "--store", location)
    assert_equal [0, "pruned 1 record"], [code, out[/\Apruned \d+ records?/]]
    assert_nil @live.get("done-1")
    _, err, code = holdfast("prune", "--completed-before", "soon", "--store", location)
    assert_equal [2, "holdfast: \"soon\" is not a duration: write 7d, 12h, 30m, 90s or seconds\n"], [code, err]
  end
end

class CLIStoreTest < Minitest::Test
  include CLIHelpers

  def setup
    @dir = Dir.mktmpdir("holdfast-cli")
  end

  def teardown
    @live&.close
    FileUtils.rm_rf(@dir)
  end

  def test_every_command_on_sqlite
    path = File.join(@dir, "store.sqlite3")
    populate("sqlite://#{path}")
    check_commands(path)
  end

  def test_every_command_on_postgresql
    url = ENV.fetch("HOLDFAST_TEST_POSTGRES_URL") { flunk "HOLDFAST_TEST_POSTGRES_URL is not set (bin/test starts the server)" }
    database = "holdfast_cli_#{Process.pid}"
    create_database(url, database)
    own = url.sub(%r{/[^/?]*(\?|\z)}) { "/#{database}#{Regexp.last_match(1)}" }
    populate(own)
    check_commands(own)
  end

  # With psql where there is one (Debian 12), else the pg gem (Debian 13).
  def create_database(url, name)
    statements = ["DROP DATABASE IF EXISTS #{name}", "CREATE DATABASE #{name}"]
    if system("command -v psql >/dev/null 2>&1")
      _, err, status = Open3.capture3("psql", url, "-q", *statements.flat_map { |sql| ["-c", sql] })
      assert status.success?, err
    else
      require "pg"
      connection = PG.connect(url)
      statements.each { |sql| connection.exec(sql) }
      connection.close
    end
  end

  def test_usage_and_unreachable_stores
    out, _, code = holdfast("--help")
    assert_equal 0, code
    assert_match(/^  locks    a running process's share-lock and interlock state$/, out)
    assert_equal 2, holdfast[2]
    out, _, code = holdfast("list", "--help")
    assert_equal 0, code
    assert_match(/\Ausage: holdfast list \[--state in_flight\|orphaned\|quarantined\|completed\|any\]/, out)
    assert_equal [2, "holdfast: show needs JOB_ID (holdfast show --help)\n"], holdfast("show", "--store", "x")[1..].reverse
    _, err, code = holdfast("list", "--state", "sleeping", "--store", "x")
    assert_equal 2, code
    assert_match(/invalid argument: --state sleeping/, err)
    _, err, code = holdfast("list")
    assert_equal [2, "holdfast: no store: run in a Rails app's directory, or pass --store URL|PATH (or set HOLDFAST_STORE_URL)\n"],
                 [code, err]

    missing = File.join(@dir, "typo.sqlite3")
    assert_equal [3, "holdfast: no store at #{missing}\n"], holdfast("list", "--store", missing)[1..].reverse
    refute File.exist?(missing), "listing a missing store must not create one"
    notes = File.join(@dir, "notes.txt")
    File.write(notes, "these are notes, not a database\n" * 100)
    _, err, code = holdfast("list", "--store", notes)
    assert_equal 1, code
    assert_match(/is not a Holdfast store/, err)
    _, err, code = holdfast("list", "--store", "postgres://app:hunter2@127.0.0.1:1/x?connect_timeout=2")
    assert_equal 1, code
    assert_match(%r{postgres://app:\*\*\*@127\.0\.0\.1:1/x}, err)
    refute_match(/hunter2/, err)
  end

  # Issue 20, defect 7: read-only commands on a database that is not a
  # Holdfast store (another program's, an empty file) change nothing.
  def test_reads_leave_foreign_databases_byte_for_byte_unchanged
    require "sqlite3"
    foreign = File.join(@dir, "other.db")
    db = SQLite3::Database.new(foreign)
    db.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("INSERT INTO accounts (name) VALUES ('ada')")
    db.close
    versioned = File.join(@dir, "versioned.db")
    db = SQLite3::Database.new(versioned)
    db.execute("PRAGMA user_version = 7")
    db.close
    empty = File.join(@dir, "empty.db")
    File.write(empty, "")
    [foreign, versioned, empty].each do |path|
      before = File.binread(path)
      [%w[list], %w[list --state any], %w[show some-job], %w[recover --dry-run]].each do |command|
        _, err, code = holdfast(*command, "--store", path)
        refute_equal 0, code, "#{command.join(" ")} on #{File.basename(path)} should fail"
        assert_match(/not a Holdfast store|no store at|no Holdfast store/, err, command.join(" "))
      end
      assert_equal before, File.binread(path), "#{File.basename(path)} changed"
      refute File.exist?("#{path}-wal"), "#{File.basename(path)} switched to WAL"
    end
  end

  # Issue 20, defect 8: a crash-looping job is quarantined; the command
  # lists it and takes it back on request.
  def test_quarantined_jobs_are_listed_and_recovered_on_request
    path = File.join(@dir, "store.sqlite3")
    store = Holdfast::Store.sqlite(path, lease: 1, max_recoveries: 1)
    looping = store.begin_execution("looping-1", "ImportJob", payload: payload("looping-1"))
    looping.checkpoint(current: ["process", "[7]"])
    store.quarantine("looping-1", token: looping.token, reason: "killed 2 times at process [7]")
    store.close
    out, err, code = holdfast("list", "--state", "quarantined", "--store", path)
    assert_equal 0, code, err
    assert_equal ["looping-1"], ids(out)
    assert_match(/quarantined/, out)
    out, = holdfast("show", "looping-1", "--store", path)
    assert_match(/killed 2 times at process \[7\]/, out)
    _, err, code = holdfast("recover", "looping-1", "--store", path)
    assert_equal 2, code
    assert_match(/--force/, err)
    reopened = Holdfast::Store.sqlite(path)
    assert reopened.get("looping-1")["quarantined_at"], "refused without --force: still quarantined"
    reopened.close
  end
end
