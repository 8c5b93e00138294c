# frozen_string_literal: true

require_relative "helper"
require "tmpdir"
require "open3"

# A real child process runs a continuable job through Active Job and is
# SIGKILLed at random points; each restart resumes from the store. At the
# end every item was processed, none skipped, and re-processing stays within
# what the durability policy allows. Then the same on PostgreSQL, and two
# processes racing on one job id (a zombie and its replacement).
class CrashTest < ActiveSupport::TestCase
  CHILD = File.expand_path("crash_child.rb", __dir__)
  ITEMS = 1500
  STEP_SIZE = 100
  # The module the child's job includes (see crash_child.rb).
  CONTINUABLE = RAILS_CONTINUATIONS ? "ActiveJob::Continuable" : "Holdfast::Continuable"
  # bin/matrix runs every kill in one lane per Ruby and a quarter of them
  # in the others (HOLDFAST_CRASH_SCALE=0.25), which share the same store code.
  SCALE = Float(ENV.fetch("HOLDFAST_CRASH_SCALE", "1"))

  def self.kills(count)
    [(count * SCALE).ceil, 1].max
  end

  def postgres_url
    ENV.fetch("HOLDFAST_TEST_POSTGRES_URL") { flunk "HOLDFAST_TEST_POSTGRES_URL is not set: bin/test starts the server" }
  end

  # Starts the child; yields each processed item number as it reports it.
  def run_child(env)
    stdin, stdout, wait = Open3.popen2(env, RbConfig.ruby, CHILD, err: [:child, :out])
    stdin.close
    [stdout, wait]
  end

  # Kills the child +cycles+ times at random points, then lets it finish.
  # After each kill a "killed" line goes into the log, so the log reads as
  # one segment per run.
  def crash_cycles(store_url, durability, cycles, seed)
    rng = Random.new(seed)
    Dir.mktmpdir do |dir|
      log = File.join(dir, "processed.log")
      env = { "HOLDFAST_STORE_URL" => store_url, "HOLDFAST_DURABILITY" => durability, "JOB_ID" => "crash-#{durability}-#{seed}-#{Process.pid}",
              "ITEMS" => ITEMS.to_s, "STEP_SIZE" => STEP_SIZE.to_s, "LOG" => log }
      cycles = self.class.kills(cycles)
      cycles.times do |cycle|
        # Under write-behind, items take 10 ms each so a run outlasts the
        # interval many times over and a too-slow flush would show.
        delay = durability.start_with?("interval:") ? "0.01" : "0"
        stdout, wait = run_child(env.merge("ITEM_DELAY" => delay))
        target = durability.start_with?("interval:") ? rng.rand(20..60) : rng.rand(5..45)
        seen = 0
        output = +""
        Timeout.timeout(60) do
          stdout.each_line do |line|
            output << line
            seen += 1 if line.start_with?("item ")
            break if seen >= target
          end
        end
        begin
          Process.kill("KILL", wait.pid)
        rescue Errno::ESRCH
          flunk "#{durability} cycle #{cycle}: the child ended before it was killed:\n#{output}#{stdout.read}"
        end
        wait.value
        stdout.close
        File.write(log, "killed\n", mode: "a")
      end
      stdout, wait = run_child(env)
      output = Timeout.timeout(120) { stdout.read }
      assert wait.value.success?, "the final run failed:\n#{output}"
      assert_includes output, "done"
      assert_includes output, "begin #{CONTINUABLE}"
      check_processed(log, durability)
    end
  end

  def check_processed(log, durability)
    segments = File.read(log).split("killed\n").map do |segment|
      segment.lines.map { |line| line.split.map { |n| Integer(n) } }
    end
    counts = Hash.new(0)
    segments.flatten(1).each { |item, _| counts[item] += 1 }
    assert_empty (0...ITEMS).reject { |item| counts.key?(item) }, "#{durability}: items never processed"
    # An item a later run did again must come from the end of a killed run,
    # within what the policy may lose.
    segments[0...-1].each_with_index do |segment, index|
      next if segment.empty?

      last_item, last_at = segment.last
      redone = segments[(index + 1)..].flatten(1).map(&:first).uniq
      segment.each do |item, at|
        next unless redone.include?(item)

        assert allowed_loss?(durability, item, at, last_item, last_at),
               "#{durability}: item #{item} was re-processed, but the policy keeps it (that run ended at #{last_item})"
      end
    end
  end

  def allowed_loss?(durability, item, at, last_item, last_at)
    case durability
    when "every_checkpoint" then item == last_item
    when "step_boundaries" then item / STEP_SIZE == last_item / STEP_SIZE
    else last_at - at <= Integer(durability.split(":").last) + 500
    end
  end

  def sqlite_url(dir)
    "sqlite://#{File.join(dir, "store.sqlite3")}"
  end

  test "SQLite, every_checkpoint: 40 kills, nothing acknowledged is lost" do
    Dir.mktmpdir { |dir| crash_cycles(sqlite_url(dir), "every_checkpoint", 40, 11) }
  end

  test "SQLite, interval:50: 40 kills, at most the last interval is re-processed" do
    Dir.mktmpdir { |dir| crash_cycles(sqlite_url(dir), "interval:50", 40, 12) }
  end

  test "SQLite, step_boundaries: 25 kills, at most the current step is re-processed" do
    Dir.mktmpdir { |dir| crash_cycles(sqlite_url(dir), "step_boundaries", 25, 13) }
  end

  test "PostgreSQL, every_checkpoint and interval:50: 15 kills each" do
    crash_cycles(postgres_url, "every_checkpoint", 15, 21)
    crash_cycles(postgres_url, "interval:50", 15, 22)
  end

  test "a zombie process stops, saying why, when a newer execution takes its job" do
    Dir.mktmpdir do |dir|
      log = File.join(dir, "processed.log")
      env = { "HOLDFAST_STORE_URL" => sqlite_url(dir), "HOLDFAST_DURABILITY" => "every_checkpoint",
              "JOB_ID" => "zombie", "ITEMS" => "400", "STEP_SIZE" => "400", "LOG" => log, "ITEM_DELAY" => "0.02" }
      zombie_out, zombie = run_child(env)
      Timeout.timeout(60) { zombie_out.each_line { |line| break if line == "item 20\n" } }
      newer_out, newer = run_child(env.merge("ITEM_DELAY" => "0"))
      newer_output = Timeout.timeout(120) { newer_out.read }
      zombie_output = Timeout.timeout(60) { zombie_out.read }
      assert newer.value.success?, newer_output
      assert zombie.value.success?, zombie_output
      assert_match(/Holdfast: CountJob \(Job ID: zombie\) stopped: execution 1 of job "zombie" is stale: execution 2 owns its progress now/,
                   zombie_output)

      store = Holdfast::Store.sqlite(File.join(dir, "store.sqlite3"))
      record = store.get("zombie")
      refute_nil record["completed_at"], "the newer execution completed and the zombie did not overwrite it"
      assert_equal ["s0"], record["completed"]
      lines = File.readlines(log).map { |line| Integer(line.split.first) }
      assert_equal (0...400).to_a, lines.uniq.sort, "no item skipped"
      assert_operator lines.size - 400, :<=, 2, "only the zombie's in-flight item is done twice"
    end
  end
end
