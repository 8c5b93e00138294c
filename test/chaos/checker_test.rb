# frozen_string_literal: true

# The harness's checker against outcome logs written by hand: a clean run
# passes, and each kind of broken promise is named. (A checker that cannot
# fail would make the harness's green worthless.)
require "minitest/autorun"
require "tmpdir"
require_relative "chaos"
require_relative "checker"

class ChaosCheckerTest < Minitest::Test
  FakeStore = Struct.new(:records) do
    def get(job_id) = records.find { |record| record["job_id"] == job_id }
    def list(**) = records
  end

  Run = Struct.new(:dir, :job_ids, :faults, :fences, :store, :crash_looper, :victim, :sqlite,
                   keyword_init: true) do
    def lease = 2.0
    def interval = 0.5
    def recovery_timeout = 20.0
    def max_recoveries = 3
    def total_items = 4
    def crash_at = 2
    def redo_bound = 1
    def sqlite? = sqlite

    def discarded_at(job_id)
      faults.select { |fault| fault[:kind] == :discard && fault[:job_id] == job_id }.map { |fault| fault[:done] }.max
    end
  end

  def setup
    @dir = Dir.mktmpdir
    @lines = []
    @faults = []
    @fences = []
    @records = [{ "job_id" => "damaged", "damaged" => "checksum" },
                { "job_id" => "loop", "quarantined_at" => 1, "completed_at" => nil }]
  end

  def teardown
    FileUtils.rm_rf(@dir)
  end

  def line(kind, job_id, token, value, at, file: "outcome-0-1.log")
    @lines << [file, "#{kind} #{job_id} #{token} #{value} #{format("%.6f", at)}\n"]
  end

  # One execution doing items 0...4 from +at+, one per 0.1 s.
  def clean_job(job_id, token: 1, at: 10.0, items: 0...4, file: "outcome-0-1.log", finish: true)
    line("begin", job_id, token, "-", at, file: file)
    items.each_with_index do |item, n|
      line("item", job_id, token, item, at + 0.1 * n + 0.01, file: file)
      line("ok", job_id, token, item, at + 0.1 * n + 0.02, file: file)
    end
    line("end", job_id, token, "-", at + 0.5, file: file) if finish
  end

  def crash_looper_dies(times)
    line("begin", "loop", 1, "-", 1.0)
    (2..times).each { |n| line("begin", "loop", n, "second:2", 1.0 + n) }
  end

  def check(job_ids = %w[a])
    @lines.group_by(&:first).each { |file, lines| File.write(File.join(@dir, file), lines.map(&:last).join) }
    job_ids.each { |job_id| @records << { "job_id" => job_id, "completed_at" => 1 } unless @records.any? { |r| r["job_id"] == job_id } }
    run = Run.new(dir: @dir, job_ids: job_ids + ["loop"], faults: @faults, fences: @fences,
                  store: FakeStore.new(@records), crash_looper: "loop", victim: "damaged", sqlite: false)
    Chaos::Checker.new(run).check.violations
  end

  def test_a_clean_run_passes
    clean_job("a")
    crash_looper_dies(4)
    assert_equal [], check
  end

  def test_a_skipped_item_is_named
    clean_job("a", items: [0, 1, 3])
    crash_looper_dies(4)
    assert_match(/a: items never done: \[2\]/, check.join("\n"))
  end

  def test_items_redone_beyond_one_per_fault
    clean_job("a", items: 0...3, finish: false)
    @faults << { kind: :kill, job_id: "a", pid: 1, slot: 0, at: 10.3 }
    clean_job("a", token: 2, at: 11.0, items: 0...4, file: "outcome-1-2.log")
    crash_looper_dies(4)
    assert_match(/a: 3 items done twice over 2 executions \(at most 1 allowed\)/, check.join("\n"))
  end

  def test_a_job_finished_and_run_again
    clean_job("a")
    clean_job("a", token: 2, at: 12.0, items: [], file: "outcome-1-2.log")
    crash_looper_dies(4)
    assert_match(/a: finished \(token 1\) and then ran again/, check.join("\n"))
  end

  def test_an_older_execution_committing_after_a_newer_began
    clean_job("a", items: 0...2, finish: false)
    clean_job("a", token: 2, at: 10.15, items: 2...4, file: "outcome-1-2.log")
    line("ok", "a", 1, 2, 10.3) # the zombie's checkpoint went through
    @faults << { kind: :stop, job_id: "a", pid: 1, slot: 0, at: 10.12, until: 12.0 }
    crash_looper_dies(4)
    assert_match(/a: token 1 committed item 2 after token 2 began/, check.join("\n"))
  end

  def test_a_discarded_job_resumed_by_an_older_copy_needs_only_what_came_after
    clean_job("a", items: 0...2, finish: false)
    @faults << { kind: :discard, job_id: "a", pid: 1, slot: 0, at: 10.3, done: 10.4 }
    line("begin", "a", 3, "first:2", 11.0, file: "outcome-1-2.log")
    [2, 3].each_with_index do |item, n|
      line("item", "a", 3, item, 11.1 + n, file: "outcome-1-2.log")
      line("ok", "a", 3, item, 11.2 + n, file: "outcome-1-2.log")
    end
    line("end", "a", 3, "-", 14.0, file: "outcome-1-2.log")
    crash_looper_dies(4)
    assert_equal [], check
  end

  def test_a_fence_nothing_explains
    clean_job("a")
    @fences << { at: 10.2, job_id: "a", token: 1, pid: 1 }
    crash_looper_dies(4)
    assert_match(/a: execution 1 in pid 1 was fenced off with no pause, kill or discard/, check.join("\n"))
  end

  def test_a_crash_loop_recovered_too_often
    clean_job("a")
    crash_looper_dies(5)
    assert_match(/loop: recovered 4 times at the cursor it dies at/, check.join("\n"))
  end

  def test_a_job_left_in_flight_and_a_slow_recovery
    clean_job("a", items: 0...2, finish: false)
    @faults << { kind: :kill, job_id: "a", pid: 1, slot: 0, at: 10.2 }
    line("enqueue", "a", 1, 0, 16.0, file: "outcome-1-2.log")
    clean_job("a", token: 2, at: 16.1, items: 2...4, file: "outcome-1-2.log")
    @records << { "job_id" => "b", "completed_at" => nil, "token" => 3, "lease_owner" => nil }
    crash_looper_dies(4)
    violations = check(%w[a]).join("\n")
    assert_match(/a: re-enqueued 5\.8 s after its kill \(bound 3\.5 s\)/, violations)
    assert_match(/b: left in flight/, violations)
  end

  # Its recoverer died after claiming it: the job waits out the claim's
  # one lease, which is allowed; without such a death it is not, and no
  # death excuses waiting longer (the claim is leased for one lease only).
  def test_a_recovery_held_by_a_recoverer_that_died_with_its_claim
    death = [{ kind: :kill, job_id: nil, pid: 7, slot: 2, at: 12.9 }]
    [["a", death, 16.0, nil],
     ["b", [], 16.0, /b: re-enqueued 5\.8 s after its kill/],
     ["c", death, 25.0, /c: re-enqueued 14\.8 s after its kill/]].each do |job_id, deaths, enqueued_at, expected|
      setup
      clean_job(job_id, items: 0...2, finish: false)
      @faults << { kind: :kill, job_id: job_id, pid: 1, slot: 0, at: 10.2 }
      @faults.concat(deaths)
      line("enqueue", job_id, 1, 0, enqueued_at, file: "outcome-1-2.log")
      clean_job(job_id, token: 2, at: enqueued_at + 0.1, items: 2...4, file: "outcome-1-2.log")
      crash_looper_dies(4)
      violations = check([job_id]).join("\n")
      if expected
        assert_match(expected, violations)
      else
        assert_empty violations
      end
    end
  end
end
