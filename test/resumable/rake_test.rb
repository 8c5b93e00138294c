# frozen_string_literal: true

# A resumable rake task during a simulated deploy: SIGTERM mid-step stops it
# at its next checkpoint (exit 75, saying where it will resume); run again,
# it resumes from its cursor with nothing skipped or repeated. SIGKILL: the
# rerun resumes within the durability policy (every checkpoint: at most the
# item in flight again). A finished task is not run again.
require "minitest/autorun"
require "open3"
require "tmpdir"
require "timeout"

class ResumableRakeTest < Minitest::Test
  RAKEFILE = File.expand_path("Rakefile", __dir__)
  ITEMS = 300

  def setup
    @dir = Dir.mktmpdir("holdfast-rake")
    @log = File.join(@dir, "items.log")
    @env = { "HOLDFAST_STORE_URL" => "sqlite://#{@dir}/store.sqlite3", "LOG" => @log }
  end

  def teardown
    FileUtils.rm_rf(@dir)
  end

  def rake(*args)
    Open3.popen3(@env, "rake", "-f", RAKEFILE, "backfill[#{ITEMS}]", *args)
  end

  # Starts the task, waits for item +at+, sends +signal+; returns [pid, exit status, stderr].
  def start_and_stop(at, signal)
    stdin, out, err, waiter = rake
    stdin.close
    Timeout.timeout(60) { out.each_line { |line| break if line == "item #{at}\n" } }
    sent_at = Time.now
    Process.kill(signal, waiter.pid)
    status = Timeout.timeout(20) { waiter.value }
    [waiter.pid, status, err.read, sent_at]
  end

  def run_to_end
    out, err, status = Timeout.timeout(120) { Open3.capture3(@env, "rake", "-f", RAKEFILE, "backfill[#{ITEMS}]") }
    [out, err, status]
  end

  def processed
    File.readlines(@log).map { |line| line.split.map { |n| Integer(n) } }
  end

  def test_sigterm_during_a_deploy_then_a_rerun_resumes_from_the_cursor
    pid, status, err, = start_and_stop(100, "TERM")
    assert_equal 75, status.exitstatus, err
    stopped_at = processed.select { |_, p| p == pid }.map(&:first).max
    assert_includes err, "rake:backfill[#{ITEMS}] was interrupted (stopping); run it again to resume from step 'copy' " \
                         "at cursor #{stopped_at + 1}"

    out, err, status = run_to_end
    assert status.success?, err
    assert_includes out, "copied #{ITEMS}\nrake:backfill[#{ITEMS}]: completed"
    items = processed.map(&:first)
    assert_equal (0...ITEMS).to_a, items.sort, "nothing skipped, nothing repeated"
    first_of_rerun = processed.find { |_, p| p != pid }.first
    assert_equal stopped_at + 1, first_of_rerun

    out, _, status = run_to_end
    assert status.success?
    assert_includes out, "rake:backfill[#{ITEMS}]: already completed at"
    assert_equal ITEMS, processed.size, "a finished backfill is not redone"
    out, _, status = Timeout.timeout(120) { Open3.capture3(@env.merge("RESTART" => "1"), "rake", "-f", RAKEFILE, "backfill[#{ITEMS}]") }
    assert status.success?
    assert_includes out, "rake:backfill[#{ITEMS}]: completed"
    assert_equal 2 * ITEMS, processed.size, "RESTART=1 runs it anew"
  end

  def test_sigkill_then_a_rerun_resumes_within_the_durability_policy
    pid, status, = start_and_stop(150, "KILL")
    assert_equal "KILL", Signal.signame(status.termsig)
    last = processed.select { |_, p| p == pid }.map(&:first).max
    _, err, status = run_to_end
    assert status.success?, err
    items = processed.map(&:first)
    assert_equal (0...ITEMS).to_a, items.uniq.sort, "nothing skipped"
    assert_operator items.size - ITEMS, :<=, 1, "at most the item in flight at the kill is processed again"
    first_of_rerun = processed.find { |_, p| p != pid }.first
    assert_operator first_of_rerun, :>=, last, "resumed from the cursor, not from the start"
  end
end
