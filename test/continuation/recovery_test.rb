# frozen_string_literal: true

require_relative "helper"
require "tmpdir"
require "open3"

# The job crash_child.rb runs: recovery re-enqueues it from its payload
# and this process performs it.
require_relative "count_job"

# A CountJob whose queue refuses the next +refusals+ enqueues, as a queue
# that is down does.
class QueueDownJob < CountJob
  class_attribute :refusals, default: 0
  before_enqueue do
    if self.class.refusals.positive?
      self.class.refusals -= 1
      raise Errno::ECONNREFUSED, "the queue"
    end
  end
end

# A worker process is SIGKILLed mid-step; nothing is done by hand but
# Holdfast.recover_orphans! (what the sweeper runs): once the dead
# worker's lease runs out the job is re-enqueued under its id and resumes
# from the durable cursor.
class RecoveryTest < ContinuationTestCase
  CHILD = File.expand_path("crash_child.rb", __dir__)

  test "a SIGKILLed worker's job is re-enqueued once its lease runs out and resumes from its cursor" do
    Dir.mktmpdir do |dir|
      path = File.join(dir, "store.sqlite3")
      log = File.join(dir, "processed.log")
      env = { "HOLDFAST_STORE_URL" => "sqlite://#{path}", "HOLDFAST_DURABILITY" => "every_checkpoint",
              "HOLDFAST_LEASE" => "1", "JOB_ID" => "orphan-#{Process.pid}", "ITEMS" => "300",
              "STEP_SIZE" => "100", "LOG" => log, "ITEM_DELAY" => "0.01" }
      stdin, out, child = Open3.popen2(env, RbConfig.ruby, CHILD, err: [:child, :out])
      stdin.close
      Timeout.timeout(60) { out.each_line { |line| break if line == "item 150\n" } }
      Process.kill(:KILL, child.pid)
      child.value
      killed_at = Process.clock_gettime(Process::CLOCK_MONOTONIC)

      Holdfast.configure do |c|
        c.store = path
        c.lease = 1
      end
      # Before the lease runs out, the job is not an orphan.
      assert_empty Holdfast.recover_orphans!
      recovered = []
      Timeout.timeout(10) do
        sleep 0.05 while (recovered = Holdfast.recover_orphans!).empty?
      end
      seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - killed_at
      assert_equal [env["JOB_ID"]], recovered
      assert_empty Holdfast.recover_orphans!, "claimed once"
      assert_equal [env["JOB_ID"]], enqueued_jobs.map { |job| job["job_id"] }
      assert_operator seconds, :<=, 3, "recovered #{seconds.round(2)} s after the kill with a 1 s lease"

      perform_enqueued_jobs
      record = Holdfast.continuation_store.get(env["JOB_ID"])
      refute_nil record["completed_at"]
      assert_nil record["lease_owner"]
      lines = File.readlines(log)
      items = lines.map { |line| Integer(line.split.first) }
      assert_equal (0...300).to_a, items.uniq.sort, "nothing skipped"
      assert_operator items.size - 300, :<=, 1, "only the item in flight at the kill runs twice"
      first_recovered = Integer(lines.find { |line| line.split.last == Process.pid.to_s }.split.first)
      assert_operator first_recovered, :>=, 150, "resumed from the cursor, not from the start"
    ensure
      Holdfast.continuation_store&.close
    end
  end

  test "an execution that stops without completing releases its lease: no orphan" do
    store = Holdfast::Store.memory(lease: 1)
    execution = store.begin_execution("released", "CountJob", payload: "{}")
    execution.release
    record = store.get("released")
    assert_nil record["lease_owner"]
    assert_nil record["completed_at"]
    sleep 1.1
    assert_empty store.claim_orphans
  end

  # Issue 20, defect 1: a recovered job that waits in a busy queue longer
  # than a lease is not claimed again, and a second copy of it (redelivery,
  # an old retry) that runs after the first finished does nothing.
  test "a recovered job left in a backlog past its lease is claimed once, and a late copy does not redo it" do
    Dir.mktmpdir do |dir|
      log = File.join(dir, "processed.log")
      path = File.join(dir, "store.sqlite3")
      # The worker's store, closed without releasing: its lease is left to
      # run out (1 s) as a killed process's would.
      worker = Holdfast::Store.sqlite(path, lease: 1)
      dead = worker.begin_execution("backlog", "CountJob",
                                    payload: CountJob.new(40, 20, log, 0).tap { |j| j.job_id = "backlog" }.serialize.to_json)
      dead.checkpoint(completed: [], current: ["s0", "[10]"])
      worker.close
      store = Holdfast::Store.sqlite(path, lease: 1)
      Holdfast.configure { |c| c.store = store }
      Timeout.timeout(10) { sleep 0.05 while Holdfast.recover_orphans!.empty? }
      assert_equal ["backlog"], enqueued_jobs.map { |job| job["job_id"] }

      # The copy waits in the queue for three leases: nobody claims it again.
      3.times do
        sleep 1.05
        assert_empty Holdfast.recover_orphans!, "a queued recovered copy is not claimed again"
      end
      copy = enqueued_jobs.first
      2.times { ActiveJob::Base.execute(JSON.parse(copy.reject { |key, _| key.is_a?(Symbol) }.to_json)) }

      items = File.readlines(log).map { |line| Integer(line.split.first) }
      assert_equal (10...40).to_a, items, "resumed at the cursor once; the second copy did nothing"
      refute_nil store.get("backlog")["completed_at"]
    ensure
      store&.close
    end
  end

  # A queue down for several sweeps: each failed re-enqueue gives its claim
  # back (tried again a lease later), and none of them counts toward the
  # crash-loop limit, so the job is neither lost nor quarantined.
  test "a re-enqueue that fails gives its claim back uncounted: enqueued once the queue is back, never quarantined" do
    Dir.mktmpdir do |dir|
      log = File.join(dir, "processed.log")
      path = File.join(dir, "store.sqlite3")
      worker = Holdfast::Store.sqlite(path, lease: 1)
      payload = QueueDownJob.new(40, 20, log, 0).tap { |j| j.job_id = "queue-down" }.serialize.to_json
      worker.begin_execution("queue-down", "QueueDownJob", payload: payload).checkpoint(current: ["s0", "[10]"])
      worker.close
      store = Holdfast::Store.sqlite(path, lease: 1, max_recoveries: 1)
      Holdfast.configure { |c| c.store = store }
      QueueDownJob.refusals = 3
      Timeout.timeout(20) { sleep 0.05 while Holdfast.recover_orphans!.empty? }

      assert_equal 0, QueueDownJob.refusals, "three enqueues were refused first"
      assert_equal ["queue-down"], enqueued_jobs.map { |job| job["job_id"] }
      record = store.get("queue-down")
      assert_nil record["quarantined_at"], "a queue outage is not a crash loop"
      assert_equal 1, record["recoveries"]
      refused = log_lines.grep(/could not re-enqueue orphan QueueDownJob .*ECONNREFUSED.*tried again in 1\.0 s/)
      assert_equal 3, refused.size, log_lines.join("\n")
    ensure
      QueueDownJob.refusals = 0
      store&.close
    end
  end

  # Issue 20, defect 2: after a discard, a new execution of the same job id
  # gets a token above the old one's, so the old one is fenced off.
  test "a discarded job's running execution is fenced off by a new execution of the same id" do
    store = Holdfast::Store.memory
    old = store.begin_execution("reused", "CountJob")
    old.checkpoint(current: ["s0", "[5]"])
    assert store.discard("reused")
    fresh = store.begin_execution("reused", "CountJob")
    assert_operator fresh.token, :>, old.token
    assert_raises(Holdfast::Continuation::StaleExecutionError) { old.checkpoint(current: ["s0", "[6]"]) }
    assert_raises(Holdfast::Continuation::StaleExecutionError) { old.complete }
    assert_nil store.get("reused")["completed_at"]
  end
end
