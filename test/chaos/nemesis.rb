# frozen_string_literal: true

module Chaos
  # Injects faults into a running cluster at random (from the run's seeded
  # Random) for a bounded time, and remembers each one for the checker:
  # SIGKILL of a busy worker, SIGSTOP across a lease and SIGCONT, TERM, and
  # an operator's discard of a running job followed by enqueuing it again.
  class Nemesis
    KINDS = { kill: 4, stop: 2, term: 2, discard: 1 }.freeze

    attr_reader :faults

    def initialize(cluster:, random:, store:, lease:, enqueue:)
      @cluster = cluster
      @random = random
      @store = store
      @lease = lease
      @enqueue = enqueue
      @faults = []
      @stopped = {}
      @discarded = {}
      @threads = []
      @lock = Mutex.new
    end

    # Faults for +seconds+; jobs in +spare+ (the crash looper) are not
    # discarded.
    def run(seconds, spare: [])
      deadline = Chaos.now + seconds
      while Chaos.now < deadline
        sleep(@random.rand(0.6..1.6))
        inject(pick_kind, spare)
      end
      @threads.each(&:join)
    end

    def discarded?(job_id)
      @discarded.key?(job_id)
    end

    private

    def pick_kind
      point = @random.rand(KINDS.values.sum)
      KINDS.each do |kind, weight|
        return kind if point < weight

        point -= weight
      end
    end

    def inject(kind, spare)
      busy = @cluster.slots.filter_map do |slot|
        pid, job_id = @cluster.busy(slot)
        [slot, pid, job_id] if job_id && !@lock.synchronize { @stopped[pid] }
      end
      return if busy.empty?

      slot, pid, job_id = busy[@random.rand(busy.size)]
      case kind
      when :kill then record(kind, slot, pid, job_id) if @cluster.signal(:KILL, pid)
      when :term then record(kind, slot, pid, job_id) if @cluster.signal(:TERM, pid)
      when :stop then stop_across_lease(slot, pid, job_id)
      when :discard then discard(slot, pid, job_id) unless spare.include?(job_id) || discarded?(job_id)
      end
    end

    def record(kind, slot, pid, job_id, **extra)
      fault = { kind: kind, slot: slot, pid: pid, job_id: job_id, at: Chaos.now }.merge(extra)
      @lock.synchronize { @faults << fault }
    end

    # Paused longer than a lease: its job is recovered elsewhere, and when
    # it resumes its next checkpoint must be refused.
    def stop_across_lease(slot, pid, job_id)
      return unless @cluster.signal(:STOP, pid)

      @lock.synchronize { @stopped[pid] = true }
      pause = @lease + @random.rand(0.5..1.5)
      record(:stop, slot, pid, job_id, until: Chaos.now + pause)
      @threads << Thread.new do
        sleep pause
        @cluster.signal(:CONT, pid)
        @lock.synchronize { @stopped.delete(pid) }
      end
    end

    # An operator gives up on a running job and enqueues it again under its
    # id: the old execution must stop at its next checkpoint without
    # writing, and the new one starts over.
    def discard(slot, pid, job_id)
      at = Chaos.now
      @discarded[job_id] = at
      @store.discard(job_id)
      # It took effect somewhere in between (a paused writer can hold the
      # delete up): the checker counts from when it had surely happened.
      record(:discard, slot, pid, job_id, at: at, done: Chaos.now)
      @enqueue.call(job_id)
    end
  end
end
