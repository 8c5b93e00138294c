# frozen_string_literal: true

require_relative "helper"
require "tmpdir"
require "open3"

# Issue 20, defect 3: a deploy's TERM to a process running a continuable
# job on an in-memory queue (:async). Whether or not the app trapped the
# signal, the process exits promptly, the job is not reported completed,
# its progress is in the store and its lease is left to run out, so
# recovery takes it.
class TermTest < ContinuationTestCase
  CHILD = File.expand_path("crash_child.rb", __dir__)

  def term_mid_step(trap:)
    Dir.mktmpdir do |dir|
      path = File.join(dir, "store.sqlite3")
      env = { "HOLDFAST_STORE_URL" => "sqlite://#{path}", "HOLDFAST_DURABILITY" => "interval:100",
              "HOLDFAST_LEASE" => "2", "JOB_ID" => "term-#{trap}-#{Process.pid}", "ITEMS" => "4000",
              "STEP_SIZE" => "4000", "LOG" => File.join(dir, "processed.log"), "ITEM_DELAY" => "0.002",
              "ASYNC" => "1", "INFO" => "1", "TRAP" => (trap ? "1" : nil) }
      stdin, out, err, child = Open3.popen3(env, RbConfig.ruby, CHILD)
      stdin.close
      errors = Thread.new { err.read }
      Timeout.timeout(60) { out.each_line { |line| break if line == "item 300\n" } }
      sent = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      Process.kill(:TERM, child.pid)
      rest = Thread.new { out.read }
      status = Timeout.timeout(Holdfast::STOP_GRACE_SECONDS + 20) { child.value }
      took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - sent
      log = errors.value
      done = Integer(File.readlines(env["LOG"]).last.split.first)
      refute_includes rest.value, "done\n"
      yield Holdfast::Store.sqlite(path, read_only: true).get(env["JOB_ID"]), status, took, log, done
    end
  end

  def assert_left_for_recovery(record, done, log)
    assert_nil record["completed_at"], "a job TERMed at item #{done} of 4000 is not completed"
    refute_nil record["lease_owner"], "the lease is kept so recovery takes the job (log: #{log})"
    assert_operator record["cursor"], :>=, 300, "its progress was written"
    assert_operator record["cursor"], :<=, done + 1
    refute_match(/Step 's0' completed/, log)
  end

  test "TERM without trap_signals!: the process exits at once and the job is left for recovery" do
    term_mid_step(trap: false) do |record, status, took, log, done|
      refute status.success?
      assert_operator took, :<, 5, "exited #{took.round(2)} s after TERM"
      assert_left_for_recovery(record, done, log)
      assert_match(/stopped without finishing/, log)
      assert_match(/Error during step 's0' at cursor '\d+' for CountJob .*Unwound \(its thread was killed/, log)
      assert_match(/Error performing CountJob .*Unwound/, log)
      refute_match(/Performed CountJob/, log)
    end
  end

  # Ruby's default for TERM is an exception in the main thread; code there
  # that rescues Exception (Logger#write does) swallows it. trap_signals!
  # must still end the process.
  test "TERM with trap_signals! exits even when the main thread swallows the signal's exception" do
    script = <<~RUBY
      require "holdfast"
      Holdfast.trap_signals!("TERM", grace: 1)
      $stdout.puts "ready"
      $stdout.flush
      loop do
        sleep 0.01
      rescue Exception # rubocop:disable Lint/RescueException -- what a Logger write does
        $stdout.puts "swallowed"
        $stdout.flush
      end
    RUBY
    Open3.popen2(RbConfig.ruby, "-I", File.expand_path("../../lib", __dir__), "-e", script) do |stdin, out, child|
      stdin.close
      assert_equal "ready\n", Timeout.timeout(30) { out.gets }
      sent = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      Process.kill(:TERM, child.pid)
      status = begin
        Timeout.timeout(20) { child.value }
      rescue Timeout::Error
        Process.kill(:KILL, child.pid)
        flunk "the process ignored TERM for 20 s"
      end
      took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - sent
      assert_equal "swallowed\n", out.gets, "Ruby's exception reached the main thread first"
      assert_equal "TERM", Signal.signame(status.termsig.to_i), "ended by TERM (#{status.inspect})"
      assert_operator took, :<, 1 + Holdfast::SWALLOWED_SIGNAL_SECONDS + 3, "exited #{took.round(2)} s after TERM"
    end
  end

  test "TERM with trap_signals!: the job stops at its next checkpoint and the process still exits" do
    term_mid_step(trap: true) do |record, status, took, log, done|
      assert_equal "TERM", Signal.signame(status.termsig.to_i), "exits by TERM as it would have (#{status.inspect})"
      assert_operator took, :<, Holdfast::STOP_GRACE_SECONDS, "exited #{took.round(2)} s after TERM"
      assert_left_for_recovery(record, done, log)
      assert_match(/Interrupted CountJob|interrupted at cursor/, log)
    end
  end
end
