# frozen_string_literal: true

module Chaos
  # Checks a finished run against exactly once, from the workers' outcome
  # lines (written outside the store), the nemesis's faults, the workers'
  # logs and the store's final records. Collects violations and figures.
  class Checker
    attr_reader :violations, :figures

    def initialize(run)
      @run = run
      @events = Chaos.read_outcomes(run.dir)
      @by_job = @events.group_by { |event| event[:job_id] }
      @violations = []
      @figures = Hash.new(0)
    end

    def check
      @run.job_ids.each { |job_id| check_job(job_id) }
      check_fences
      check_recovery_times
      check_store
      self
    end

    private

    def fail!(text)
      @violations << text
    end

    def lines(job_id, kind)
      @by_job.fetch(job_id, []).select { |event| event[:kind] == kind }
    end

    # Since its last discard, the job started over: only what came after
    # counts for exactly once.
    def epoch(job_id)
      @run.discarded_at(job_id) || -Float::INFINITY
    end

    def check_job(job_id)
      since = epoch(job_id)
      begins = lines(job_id, "begin").select { |event| event[:at] > since }
      tokens = begins.map { |event| event[:token] }
      # An execution begun before a discard may still log an item before
      # its next checkpoint is refused: that belongs to the old epoch.
      items = lines(job_id, "item").select { |event| tokens.include?(event[:token]) }
      oks = lines(job_id, "ok")
      @figures[:executions] += begins.size
      return check_crash_looper(job_id, begins) if job_id == @run.crash_looper

      done = items.map { |event| Integer(event[:value]) }
      missing = (first_item(job_id, begins)...@run.total_items).to_a - done
      fail!("#{job_id}: items never done: #{missing.first(10).inspect}#{" ..." if missing.size > 10}") unless missing.empty?
      redone = done.size - done.uniq.size
      @figures[:redone] += redone
      bound = @run.redo_bound * [begins.size - 1, 0].max
      if redone > bound
        fail!("#{job_id}: #{redone} items done twice over #{begins.size} executions (at most #{bound} allowed)")
      end
      check_once(job_id, begins)
      check_fencing(job_id, begins, oks)
    end

    # Where the job's work starts: 0, or for a discarded job the cursor its
    # first execution after the discard began at. A copy still queued from
    # before the discard (resumed after a TERM) carries its progress in its
    # Active Job payload and resumes from there; the store's record is all
    # a discard removes.
    def first_item(job_id, begins)
      return 0 unless @run.discarded_at(job_id) && begins.first

      step, cursor = begins.first[:value].split(":") # "-", "first:75", "second:125" (cursors count from 0)
      return Integer(cursor) if cursor

      step == "second" ? @run.total_items / 2 : 0
    end

    # Finished once: nothing began again after an execution ended, unless
    # that execution's process was killed before the store heard of the end.
    def check_once(job_id, begins)
      tokens = begins.map { |event| event[:token] }
      ends = lines(job_id, "end").select { |event| tokens.include?(event[:token]) }
      fail!("#{job_id}: never finished") if ends.empty?
      first_end = ends.first
      return unless first_end

      again = begins.select { |event| event[:at] > first_end[:at] }
      return if again.empty?

      killed = @run.faults.any? do |fault|
        fault[:job_id] == job_id && %i[kill stop].include?(fault[:kind]) && fault[:at] >= first_end[:at] - 0.001
      end
      @figures[:finished_then_killed] += 1 if killed
      fail!("#{job_id}: finished (token #{first_end[:token]}) and then ran again #{again.size} time(s)") unless killed
    end

    # No two executions committed progress for one job after the later one
    # began: an older token's checkpoint that started after a newer token's
    # begin line was written was accepted by the store, a violation.
    def check_fencing(job_id, begins, oks)
      begins_by_token = lines(job_id, "begin").to_h { |event| [event[:token], event[:at]] }
      discarded = @run.discarded_at(job_id)
      oks.each do |ok|
        newer = begins_by_token.select { |token, at| token > ok[:token] && at < ok[:at] }
        unless newer.empty?
          fail!("#{job_id}: token #{ok[:token]} committed item #{ok[:value]} after token #{newer.keys.min} began")
        end
        next unless discarded && ok[:at] > discarded && (begins_by_token[ok[:token]] || 0) < discarded

        fail!("#{job_id}: token #{ok[:token]} committed item #{ok[:value]} after the job was discarded")
      end
    end

    def check_crash_looper(job_id, begins)
      record = @run.store.get(job_id)
      fail!("#{job_id}: the crash looper is not quarantined: #{record.inspect}") unless record&.fetch("quarantined_at", nil)
      fail!("#{job_id}: the crash looper completed") if record && record["completed_at"]
      # It dies on reaching its cursor; each run begun there is a recovery.
      again = begins.count { |event| event[:value] == "second:#{@run.crash_at}" }
      @figures[:crash_loop_deaths] = again + 1
      if again > @run.max_recoveries
        fail!("#{job_id}: recovered #{again} times at the cursor it dies at (max_recoveries is #{@run.max_recoveries})")
      end
    end

    # Every execution refused as stale was fenced for a reason the run
    # injected: its own process paused past its lease, its job discarded,
    # or (SQLite) another process paused holding the write lock, so its own
    # checkpoints waited past its lease. A fence with none of these is a
    # live job claimed as an orphan (a skewed clock would do that).
    def check_fences
      @run.fences.each do |fence|
        own = @run.faults.any? do |fault|
          fault[:pid] == fence[:pid] && fault[:kind] == :stop && fault[:at] <= fence[:at]
        end
        discarded = @run.faults.any? do |fault|
          fault[:kind] == :discard && fault[:job_id] == fence[:job_id] && fault[:at] <= fence[:at]
        end
        paused_elsewhere = @run.sqlite? && @run.faults.any? { |fault| fault[:kind] == :stop && fault[:at] <= fence[:at] }
        if own || discarded
          @figures[:fenced] += 1
        elsif paused_elsewhere
          @figures[:fenced_by_paused_writer] += 1
        else
          fail!("#{fence[:job_id]}: execution #{fence[:token]} in pid #{fence[:pid]} was fenced off with no " \
                "pause, kill or discard to explain it (a live job was claimed)")
        end
      end
    end

    # A job whose worker was SIGKILLed or paused past its lease is
    # re-enqueued by recovery within lease + sweep interval + 1 s (on SQLite,
    # unless a paused process held the write lock meanwhile).
    def check_recovery_times
      @run.faults.each do |fault|
        next unless %i[kill stop].include?(fault[:kind]) && fault[:job_id]

        # Re-enqueued by recovery, or taken over by another copy already
        # queued (a discarded job enqueued again, a resumed one).
        requeued = (lines(fault[:job_id], "enqueue").select { |event| event[:token].positive? } +
                    lines(fault[:job_id], "begin")).select { |event| event[:at] > fault[:at] }.min_by { |event| event[:at] }
        ended = lines(fault[:job_id], "end").any? { |event| event[:at] <= fault[:at] }
        next if ended && !requeued

        unless requeued
          # SQLite: a process paused holding the write lock stops every
          # other writer and sweeper too; when it resumes it renews its own
          # lease before anyone could claim it.
          # A pause that ended before recovery was due (lease + a sweep +
          # 1 s): the process went on under its own lease.
          short = fault[:kind] == :stop && fault[:until] - fault[:at] < @run.lease + @run.interval + 1
          if (short || @run.sqlite?) && fault[:kind] == :stop && same_execution_finished?(fault)
            @figures[:paused_writer_kept_its_job] += 1
          else
            fail!("#{fault[:job_id]}: #{fault[:kind]} at #{fault[:at].round(3)} and never re-enqueued")
          end
          next
        end
        took = requeued[:at] - fault[:at]
        # A copy killed before it began still held recovery's claim, which
        # waits its recovery timeout for that copy before claiming again.
        began = lines(fault[:job_id], "begin").any? do |event|
          event[:file] == "outcome-#{fault[:slot]}-#{fault[:pid]}.log" && event[:at] <= fault[:at]
        end
        bound = (began ? @run.lease : @run.recovery_timeout) + @run.interval + 1
        resumed = lines(fault[:job_id], "begin").find { |event| event[:at] > fault[:at] }
        @figures[:worst_requeue] = [@figures[:worst_requeue], took].max
        @figures[:worst_resume] = [@figures[:worst_resume], resumed[:at] - fault[:at]].max if resumed
        next if took <= bound
        next if @run.sqlite? && @run.faults.any? { |other| other[:kind] == :stop && other[:at] < requeued[:at] && other[:until] > fault[:at] }

        # Every sweeper may be down at once (the nemesis kills, pauses and
        # TERMs workers faster than they boot): one lease more is counted,
        # not failed; past that something is wrong.
        @figures[:late_requeues] += 1
        next if took <= bound + @run.lease

        # The recoverer that claimed the job was killed, TERMed or paused
        # before it re-enqueued it: its claim holds for one lease, then the
        # next sweep takes the job. Counted, and bounded by that.
        if took <= 2 * (@run.lease + @run.interval) + 1 && claimer_lost?(fault)
          @figures[:claims_lost_with_their_recoverer] += 1
          next
        end

        fail!("#{fault[:job_id]}: re-enqueued #{took.round(2)} s after its #{fault[:kind]} (bound #{bound.round(2)} s)")
      end
    end

    # Whether another worker met a fault while it may have held the
    # job's recovery claim: from the fault until one lease after
    # recovery was due.
    def claimer_lost?(fault)
      window = (fault[:at])..(fault[:at] + 2 * @run.lease + @run.interval + 1)
      @run.faults.any? do |other|
        other[:pid] != fault[:pid] && %i[kill term stop].include?(other[:kind]) && window.cover?(other[:at])
      end
    end

    def same_execution_finished?(fault)
      token = lines(fault[:job_id], "item").reverse.find { |event| event[:at] <= fault[:at] }&.fetch(:token)
      lines(fault[:job_id], "end").any? { |event| event[:token] == token }
    end

    # Nothing left in flight or stranded; the damaged record listed as
    # damaged and never recovered.
    def check_store
      records = @run.store.list(state: :any, limit: 10_000)
      damaged = records.select { |record| record["damaged"] }
      unless damaged.map { |record| record["job_id"] } == [@run.victim]
        fail!("damaged records listed: #{damaged.inspect} (expected only #{@run.victim})")
      end
      records.reject { |record| record["damaged"] }.each do |record|
        next if record["completed_at"]
        next if record["job_id"] == @run.crash_looper

        fail!("#{record["job_id"]}: left in flight (token #{record["token"]}, lease #{record["lease_owner"].inspect})")
      end
      missing = @run.job_ids - records.map { |record| record["job_id"] }
      fail!("records missing from the store: #{missing.inspect}") unless missing.empty?
      fail!("#{@run.victim}: the damaged record was re-enqueued") if @by_job.key?(@run.victim)
    end
  end
end
