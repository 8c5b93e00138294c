# frozen_string_literal: true

require "rbconfig"

module Chaos
  # The worker processes, kept at their number as a process supervisor
  # (systemd, Kubernetes) would: a worker that dies is started again. Slot 0
  # runs with its wall clock 60 s ahead and slot 1 with it 60 s behind
  # (libfaketime; monotonic clocks left alone, as a real skew leaves them).
  class Cluster
    WORKER = File.expand_path("worker.rb", __dir__)
    SKEWS = { 0 => "+60s", 1 => "-60s" }.freeze

    attr_reader :exits

    # +unstarted+: whether a job id's record leaves it to the queue (none
    # yet, or handed back without a lease), so a dead worker's claim of it
    # goes back to the queue, as delayed_job's lock expiry or Sidekiq's
    # super_fetch would; a job running under a lease is Holdfast's to
    # bring back.
    def initialize(dir:, workers:, env:, unstarted:)
      @dir = dir
      @unstarted = unstarted
      @env = env
      @count = workers
      @pids = {}
      @exits = []
      @lock = Mutex.new
      @running = true
      @faketime = Dir["/usr/lib/*/faketime/libfaketimeMT.so.1"].first or
        raise "libfaketime is missing: bin/setup installs the faketime package (the skewed workers need it)"
    end

    def start
      @count.times { |slot| spawn(slot) }
      @watcher = Thread.new { watch }
    end

    def skew(slot)
      SKEWS[slot]
    end

    # The pid in +slot+ and the job id its worker is running (nil if none).
    def busy(slot)
      pid = @lock.synchronize { @pids[slot] }
      text = File.read(File.join(@dir, "busy-#{slot}")) rescue nil # rubocop:disable Style/RescueModifier
      owner, job_id = text&.split
      [pid, owner.to_i == pid && job_id != "-" ? job_id : nil]
    end

    def slots
      (0...@count).to_a
    end

    # Stops every worker: TERM, then KILL after +grace+ seconds.
    def stop(grace: 15)
      @lock.synchronize { @running = false }
      pids = @lock.synchronize { @pids.values }
      pids.each { |pid| signal(:CONT, pid) && signal(:TERM, pid) }
      deadline = Chaos.now + grace
      sleep 0.05 while pids.any? { |pid| alive?(pid) } && Chaos.now < deadline
      pids.each { |pid| signal(:KILL, pid) }
      @watcher&.join(5)
    end

    def signal(name, pid)
      Process.kill(name, pid)
      true
    rescue Errno::ESRCH
      false
    end

    private

    def alive?(pid)
      Process.kill(0, pid)
      true
    rescue Errno::ESRCH
      false
    end

    def release_claims(slot, pid)
      claimed = File.join(@dir, "queue", "claimed")
      prefix = "#{slot}-#{pid}-"
      Dir.children(claimed).each do |name|
        next unless name.start_with?(prefix)

        job_id = File.basename(name, ".json").split("-", 6).last
        next unless @unstarted.call(job_id)

        File.rename(File.join(claimed, name), File.join(@dir, "queue", "ready", name.delete_prefix(prefix)))
      end
    end

    def spawn(slot)
      env = @env.merge("CHAOS_SLOT" => slot.to_s)
      if (offset = SKEWS[slot])
        env = env.merge("LD_PRELOAD" => @faketime, "FAKETIME" => offset, "FAKETIME_DONT_FAKE_MONOTONIC" => "1")
      end
      pid = Process.spawn(env, RbConfig.ruby, WORKER, out: File::NULL, err: [File.join(@dir, "stderr-#{slot}.log"), "a"])
      @lock.synchronize { @pids[slot] = pid }
    end

    def watch
      loop do
        pid, status = Process.wait2
        slot = @lock.synchronize { @pids.key(pid) }
        @lock.synchronize { @exits << { slot: slot, pid: pid, status: status, at: Chaos.now } }
        release_claims(slot, pid)
        running = @lock.synchronize { @running }
        spawn(slot) if running && slot
      rescue Errno::ECHILD
        break unless @lock.synchronize { @running }

        sleep 0.05
      end
    end
  end
end
