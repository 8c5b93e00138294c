# frozen_string_literal: true

require_relative "helper"
require "open3"
require "tmpdir"

# Issue 20, defect 4: leases are judged on the store's one clock (the
# host's boot clock for SQLite, the server's for PostgreSQL), so a sweeper
# whose wall clock is 60 s ahead never claims a live job, and one 60 s
# behind still claims an orphan once its lease ran out. The sweepers are
# real processes under libfaketime (monotonic clocks left alone, as a real
# skew leaves them).
class ClockSkewTest < ContinuationTestCase
  SWEEPER = <<~RUBY
    require "holdfast"
    store = Holdfast::Store.from_url(ARGV[0], lease: 1, **(ARGV[1] ? { table: ARGV[1] } : {}))
    puts [Time.now.to_i, *store.claim_orphans(limit: 100).map { |claim| claim["job_id"] }].join(" ")
    store.close
  RUBY

  LIB = File.expand_path("../../lib", __dir__)

  def faketime
    Dir["/usr/lib/*/faketime/libfaketimeMT.so.1"].first or flunk "libfaketime is missing: bin/setup installs faketime"
  end

  # Job ids a sweeper with its wall clock moved by +offset+ claimed.
  def sweep(url, offset, table: nil)
    env = { "LD_PRELOAD" => faketime, "FAKETIME" => offset, "FAKETIME_DONT_FAKE_MONOTONIC" => "1" }
    out, err, status = Open3.capture3(env, RbConfig.ruby, "-I", LIB, "-e", SWEEPER, url, *table)
    assert status.success?, "the sweeper failed: #{err}"
    wall, *claimed = out.split
    skew = Integer(wall) - Time.now.to_i
    assert_in_delta Integer(offset.delete_suffix("s")), skew, 5, "the sweeper's clock is #{skew} s off"
    claimed
  end

  # A job begun in a child that dies at once (SIGKILL): its lease runs out
  # in one second.
  def orphan(url, job_id, table: nil)
    script = <<~RUBY
      require "holdfast"
      store = Holdfast::Store.from_url(ARGV[0], lease: 1, **(ARGV[2] ? { table: ARGV[2] } : {}))
      store.begin_execution(ARGV[1], "SkewJob", payload: "{}")
      Process.kill(:KILL, Process.pid)
    RUBY
    _out, err, status = Open3.capture3(RbConfig.ruby, "-I", LIB, "-e", script, url, job_id, *table)
    assert_equal "KILL", Signal.signame(status.termsig.to_i), "the child did not die as planned: #{err}"
  end

  def skewed_sweepers_judge_on_one_clock(url, store, table: nil)
    live = store.begin_execution("skew-live-#{Process.pid}", "SkewJob", payload: "{}")
    dead = "skew-dead-#{Process.pid}"
    orphan(url, dead, table: table)
    refute_includes sweep(url, "+60s", table: table), live.job_id, "a sweeper 60 s ahead claimed a live job"
    refute_includes sweep(url, "+60s", table: table), dead, "a sweeper 60 s ahead claimed a lease not yet run out"
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    claimed = []
    until claimed.include?(dead) || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      claimed = sweep(url, "-60s", table: table)
      refute_includes claimed, live.job_id, "a sweeper 60 s behind claimed a live job"
    end
    assert_includes claimed, dead, "a sweeper 60 s behind never claimed the orphan"
    live.checkpoint(completed: [], current: ["s", "[1]"], interrupt: true) # still its own: never fenced
  end

  test "SQLite: sweepers 60 s ahead and behind judge leases on the host's boot clock" do
    Dir.mktmpdir do |dir|
      url = "sqlite://#{File.join(dir, "store.sqlite3")}"
      store = Holdfast::Store.from_url(url, lease: 1)
      skewed_sweepers_judge_on_one_clock(url, store)
    ensure
      store&.close
    end
  end

  test "PostgreSQL: sweepers 60 s ahead and behind judge leases on the server's clock" do
    table = "holdfast_skew_#{Process.pid}"
    store = Holdfast::Store.postgres(postgres_url, table: table, lease: 1)
    skewed_sweepers_judge_on_one_clock(postgres_url, store, table: table)
  ensure
    store&.close
  end
end
