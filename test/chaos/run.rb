# frozen_string_literal: true

# Holdfast's fault-injection harness: many continuable jobs over several
# worker processes, each with Holdfast's recovery sweeper, while a nemesis
# SIGKILLs, pauses (SIGSTOP across a lease), TERMs and discards; two workers
# run with their wall clocks 60 s ahead and behind; some jobs wait several
# leases in the queue whenever they are enqueued again; one record is
# damaged; one job kills its process at the same cursor every time. Then
# it checks exactly once from what the workers wrote outside the store and
# prints the figures.
#
#   ruby test/chaos/run.rb sqlite|postgres
#
# HOLDFAST_CHAOS_SECONDS (default 30): how long faults are injected.
# HOLDFAST_CHAOS_SEED: the seed (printed; a run is repeated by giving it).
# HOLDFAST_CHAOS_JOBS (40), HOLDFAST_CHAOS_WORKERS (4),
# HOLDFAST_CHAOS_DURABILITY (every_checkpoint, or interval:MS).
# PostgreSQL: HOLDFAST_TEST_POSTGRES_URL (bin/test starts the server).

$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
require "active_job"
require "holdfast"
require "holdfast/continuable"
require "tmpdir"
require "fileutils"
require_relative "chaos"
require_relative "file_queue"
require_relative "cluster"
require_relative "nemesis"
require_relative "checker"
require_relative "damage"

module Chaos
  class Run
    LEASE = 2.0
    INTERVAL = 0.5
    ITEMS = 120 # per step; two steps
    ITEM_DELAY = 0.005
    MAX_RECOVERIES = 3
    # How long a recovery claim waits for its copy to begin before another
    # sweeper may claim the job again (its copy may have died in a queue).
    # Longer than a copy waits in this queue (the feeder keeps it short; the
    # delayed jobs wait 3 leases): a claim is retried, and counted toward
    # quarantine, only when its copy really was lost.
    RECOVERY_TIMEOUT = 20.0

    attr_reader :dir, :job_ids, :store, :crash_looper, :victim, :fences

    def initialize(kind)
      @kind = kind
      @seconds = Float(ENV.fetch("HOLDFAST_CHAOS_SECONDS", "30"))
      @seed = Integer(ENV.fetch("HOLDFAST_CHAOS_SEED") { Random.new_seed % 1_000_000 })
      @random = Random.new(@seed)
      # Enough work to keep the workers busy while faults are injected.
      @jobs = Integer(ENV.fetch("HOLDFAST_CHAOS_JOBS") { [40, (@seconds * 1.2).round].max })
      @workers = Integer(ENV.fetch("HOLDFAST_CHAOS_WORKERS", "4"))
      @durability = ENV.fetch("HOLDFAST_CHAOS_DURABILITY", "every_checkpoint")
      @dir = Dir.mktmpdir("holdfast-chaos-")
      @job_ids = Array.new(@jobs) { |n| format("chaos-%02d", n) }
      @crash_looper = @job_ids.last
      @delayed = @job_ids.first(@jobs - 1).sample(4, random: @random)
      @victim = "chaos-damaged"
      @fences = []
    end

    def lease = LEASE
    def interval = INTERVAL
    def max_recoveries = MAX_RECOVERIES
    def recovery_timeout = RECOVERY_TIMEOUT
    def total_items = 2 * ITEMS
    def crash_at = ITEMS + 5
    def sqlite? = @kind == "sqlite"
    def faults = @nemesis.faults

    # Items a fault may make a job do again: the one whose checkpoint had
    # not committed (every_checkpoint), or those of one interval.
    def redo_bound
      return 1 unless @durability.start_with?("interval:")

      (Integer(@durability.split(":").last) / 1000.0 / ITEM_DELAY).ceil + 2
    end

    def discarded_at(job_id)
      faults.select { |fault| fault[:kind] == :discard && fault[:job_id] == job_id }.map { |fault| fault[:done] }.max
    end

    def call
      started = Chaos.now
      puts "chaos: #{@kind}, seed #{@seed}, #{@seconds} s of faults, #{@jobs} jobs x #{total_items} items, " \
           "#{@workers} workers, lease #{LEASE} s, sweep every #{INTERVAL} s, #{@durability} (#{@dir})"
      configure_environment
      Chaos::Damage.plant(@kind, @victim) # before this process opens the store: it forks
      @store = Chaos.open_store
      @queue = FileQueue.new(File.join(@dir, "queue"))
      @cluster = Cluster.new(dir: @dir, workers: @workers, env: @env, unstarted: ->(job_id) { queue_owns?(job_id) })
      @nemesis = Nemesis.new(cluster: @cluster, random: @random, store: @store, lease: LEASE,
                             enqueue: ->(job_id) { enqueue(job_id) })
      feeder = feed
      @cluster.start
      @nemesis.run(@seconds, spare: [@crash_looper])
      feeder.join
      settle(deadline: Chaos.now + 60 + RECOVERY_TIMEOUT)
      @cluster.stop
      read_fences
      File.write(File.join(@dir, "faults.json"), JSON.pretty_generate(faults))
      checker = Checker.new(self).check
      report(checker, Chaos.now - started)
      checker.violations.empty?
    ensure
      @cluster&.stop
      @store&.close
      drop_table if @kind == "postgres"
      FileUtils.rm_rf(@dir) if checker&.violations&.empty? && !ENV["HOLDFAST_CHAOS_KEEP"]
    end

    def enqueue(job_id)
      job = ChaosJob.new(ITEMS, ITEM_DELAY, job_id == @crash_looper ? crash_at : nil)
      job.job_id = job_id
      @queue.enqueue(job)
      job_id
    end

    private

    # Whether bringing a dead worker's claim of this job back is the
    # queue's work: Holdfast has no record of it yet, or its record was
    # handed back to the queue (in flight without a lease).
    def queue_owns?(job_id)
      record = @store.get(job_id)
      record.nil? || (record["completed_at"].nil? && record["lease_owner"].nil? && !record["quarantined_at"])
    end

    # A steady stream of work, as a busy app's queue has: at most two jobs
    # per worker wait at a time, so the workers stay busy through the
    # faults. The crash looper goes first, so its loop plays out in any run.
    def feed
      pending = [@crash_looper] + (@job_ids - [@crash_looper])
      Thread.new do
        until pending.empty?
          if @queue.size < 2 * @workers
            enqueue(pending.shift)
          else
            sleep 0.05
          end
        end
      end
    end

    def configure_environment
      @env = { "CHAOS_DIR" => @dir, "HOLDFAST_LEASE" => LEASE.to_s, "CHAOS_INTERVAL" => INTERVAL.to_s,
               "CHAOS_RECOVERY_TIMEOUT" => RECOVERY_TIMEOUT.to_s,
               "CHAOS_DURABILITY" => @durability, "CHAOS_DELAY_JOBS" => @delayed.join(","),
               "CHAOS_DELAY" => (3 * LEASE).to_s }
      case @kind
      when "sqlite"
        @env["HOLDFAST_STORE_URL"] = "sqlite://#{File.join(@dir, "store.sqlite3")}"
      when "postgres"
        url = ENV["HOLDFAST_TEST_POSTGRES_URL"] or abort "chaos: HOLDFAST_TEST_POSTGRES_URL is not set (bin/test starts the server)"
        @env["HOLDFAST_STORE_URL"] = url
        @env["CHAOS_TABLE"] = "holdfast_chaos_#{@seed}_#{Process.pid}"
      else
        abort "usage: ruby test/chaos/run.rb sqlite|postgres"
      end
      ENV.update(@env)
    end

    # Waits until every job but the crash looper completed (the looper
    # quarantined) and the queue is empty: stale copies have run and done
    # nothing. Gives up at +deadline+ and lets the checker say what is left.
    def settle(deadline:)
      until Chaos.now > deadline
        records = @job_ids.map { |job_id| @store.get(job_id) }
        finished = records.all? do |record|
          record && (record["job_id"] == @crash_looper ? record["quarantined_at"] : record["completed_at"])
        end
        return if finished && @queue.empty? && @cluster.slots.none? { |slot| @cluster.busy(slot).last }

        sleep 0.2
      end
      puts "chaos: not settled after the deadline; checking what is there"
    end

    # "stopped: execution N of job "X" is stale" lines: executions refused.
    def read_fences
      Dir[File.join(@dir, "worker-*.log")].each do |path|
        pid = Integer(File.basename(path, ".log").split("-").last)
        File.foreach(path) do |line|
          next unless (found = line.match(/\A(\S+) WARN .*Job ID: (\S+)\) stopped: execution (\d+) of job .* is stale/))

          @fences << { at: Float(found[1]), job_id: found[2], token: Integer(found[3]), pid: pid }
        end
      end
    end

    def drop_table
      Chaos::Damage.drop_table(ENV.fetch("HOLDFAST_TEST_POSTGRES_URL"), @env["CHAOS_TABLE"])
    rescue StandardError => e
      warn "chaos: could not drop #{@env["CHAOS_TABLE"]}: #{e.message}"
    end

    def report(checker, took)
      counts = faults.group_by { |fault| fault[:kind] }.transform_values(&:size)
      exits = @cluster.exits.size
      figures = checker.figures
      puts format("chaos: %s, seed %d: %d faults (%s), %d worker exits, %d jobs, %d executions, " \
                  "%d items redone, %d fenced (+%d by a paused writer), crash looper died %d times, " \
                  "worst re-enqueue %.2f s (%d past lease + interval + 1 s, %d held by a recoverer that died with its claim) " \
                  "and resume %.2f s after a fault, %.0f s in all",
                  @kind, @seed, faults.size, counts.map { |kind, n| "#{kind} #{n}" }.join(", "), exits, @jobs,
                  figures[:executions], figures[:redone], figures[:fenced], figures[:fenced_by_paused_writer],
                  figures[:crash_loop_deaths], figures[:worst_requeue], figures[:late_requeues],
                  figures[:claims_lost_with_their_recoverer], figures[:worst_resume], took)
      return puts("chaos: #{@kind}: every invariant held") if checker.violations.empty?

      puts "chaos: #{@kind}: #{checker.violations.size} violations (logs kept in #{@dir}):"
      checker.violations.first(40).each { |text| puts "  - #{text}" }
    end
  end
end

CHAOS_OUTCOME = ->(*) {} # this process runs no job
require_relative "chaos_job"
exit(Chaos::Run.new(ARGV.fetch(0, "sqlite")).call ? 0 : 1)
