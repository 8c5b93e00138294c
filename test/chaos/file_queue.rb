# frozen_string_literal: true

require "json"
require "fileutils"

module Chaos
  # The harness's job backend: a queue that outlives every worker, one file
  # per enqueued job in ready/, claimed by renaming it into claimed/ (atomic
  # on one file system, so two workers never take the same file). A worker
  # that dies leaves its claimed file behind and nothing runs it again, as
  # with a backend whose dead claims wait for pruning: bringing the job back
  # is Holdfast's recovery's work. Due times are on CLOCK_MONOTONIC, which
  # one host shares and a skewed wall clock does not move.
  class FileQueue
    def initialize(dir, log: nil, delay_for: ->(_job_id, _nth) { 0 })
      @ready = File.join(dir, "ready")
      @claimed = File.join(dir, "claimed")
      @enqueues = File.join(dir, "enqueues")
      [@ready, @claimed, @enqueues].each { |path| FileUtils.mkdir_p(path) }
      @log = log
      @delay_for = delay_for
      @sequence = 0
    end

    # Active Job's adapter interface.
    def enqueue(job)
      put(job, 0)
    end

    def enqueue_at(job, timestamp)
      put(job, [timestamp.to_f - Time.now.to_f, 0].max)
    end

    def enqueue_after_transaction_commit?
      false
    end

    # Rails 8.1's continuations ask every adapter; this queue never asks a
    # job to stop (Holdfast's trap_signals! does, on TERM).
    def stopping?
      false
    end

    # A claimed [path, serialized job] that is due, or nil.
    def claim(worker)
      now = Chaos.now
      Dir.children(@ready).sort.each do |name|
        next if name.start_with?(".") # being written

        due = Integer(name.split("-", 2).first, 10) / 1e9
        break if due > now

        mine = File.join(@claimed, "#{worker}-#{name}")
        begin
          File.rename(File.join(@ready, name), mine)
        rescue Errno::ENOENT
          next # another worker took it
        end
        return [mine, JSON.parse(File.read(mine))]
      end
      nil
    end

    # Puts a claimed job back, due +seconds+ from now.
    def retry_later(path, seconds)
      name = File.basename(path).split("-", 3).last # drop the claimer's slot and pid
      due = format("%020d", ((Chaos.now + seconds) * 1e9).round)
      File.rename(path, File.join(@ready, "#{due}-#{name.split("-", 2).last}"))
    end

    def done(path)
      File.delete(path)
    rescue Errno::ENOENT
      nil
    end

    def empty?
      size.zero?
    end

    def size
      Dir.children(@ready).count { |name| !name.start_with?(".") }
    end

    private

    def put(job, wait)
      nth = count_enqueue(job.job_id)
      delay = @delay_for.call(job.job_id, nth)
      due = Chaos.now + wait + delay
      @sequence += 1
      name = format("%020d-%d-%d-%s.json", (due * 1e9).round, Process.pid, @sequence, job.job_id)
      temp = File.join(@ready, ".#{name}.tmp")
      File.write(temp, JSON.generate(job.serialize))
      File.rename(temp, File.join(@ready, name))
      @log&.call("enqueue", job.job_id, nth, delay.round(3))
      true
    end

    # How many times this job id was enqueued before, across processes: a
    # file per enqueue, created exclusively.
    def count_enqueue(job_id)
      nth = 0
      loop do
        File.open(File.join(@enqueues, "#{job_id}.#{nth}"), File::WRONLY | File::CREAT | File::EXCL).close
        return nth
      rescue Errno::EEXIST
        nth += 1
      end
    end
  end
end
