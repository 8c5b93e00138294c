# frozen_string_literal: true

# Loaded with the gem (not with Active Job), so an initializer can call
# Holdfast.trap_signals! before any job class loads.
module Holdfast
  # How long a trapped signal waits for this process's jobs to stop at
  # their next checkpoint before it takes its default effect.
  STOP_GRACE_SECONDS = 10
  # How long trap_signals! gives Ruby's own handling of a re-sent signal
  # before the operating system's ends the process.
  SWALLOWED_SIGNAL_SECONDS = 2

  # How long trap_signals! leaves the process, once its work stopped, to
  # end by itself (a rake task exiting 75, a worker's own shutdown) before
  # it re-sends the signal.
  SETTLE_SECONDS = 1
  WORK_LOCK = Mutex.new # :nodoc:
  WORK_CHANGED = ConditionVariable.new # :nodoc:

  class << self
    # Asks every continuable job in this process to stop at its next
    # checkpoint (reason :stopping); they are re-enqueued with their progress.
    def stop!
      @stopping = true
    end

    def stopping?
      @stopping == true
    end

    # Clears stop! (for tests, or a process that goes on working).
    def resume!
      @stopping = false
    end

    # Installs handlers for the signals (e.g. "TERM", "INT") that call
    # stop! and then what was there before:
    # - a Ruby handler (Puma's, Sidekiq's) is called, and decides when the
    #   process exits;
    # - the default disposition still happens, once the jobs running here
    #   stopped at their next checkpoint or +grace+ seconds passed
    #   (STOP_GRACE_SECONDS by default): the process exits as it would
    #   have, never ignoring the signal. A job still running then is ended
    #   by the exit with its progress written and its lease kept, so
    #   recovery resumes it;
    # - an ignored signal stays ignored (the jobs stop; the process goes on).
    def trap_signals!(*signals, grace: STOP_GRACE_SECONDS)
      grace = Float(grace)
      signals.flatten.each do |signal|
        previous = nil
        previous = Signal.trap(signal) do |number|
          stop!
          if previous.respond_to?(:call)
            previous.call(number)
          elsif previous != "IGNORE"
            default_after_stop(signal, previous, grace)
          end
        end
      end
      nil
    end

    # Counts durable work running in this process (continuable job
    # executions, resumable runs): +1 when one begins, -1 when it has
    # finished and released what it holds.
    def work_running(delta) # :nodoc:
      WORK_LOCK.synchronize do
        @work_running = (@work_running || 0) + delta
        WORK_CHANGED.broadcast
      end
    end

    # Waits at most +seconds+ for no durable work to be running here; true
    # when none is.
    def wait_for_work(seconds) # :nodoc:
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
      WORK_LOCK.synchronize do
        while (@work_running || 0).positive?
          left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
          return false unless left.positive?

          WORK_CHANGED.wait(WORK_LOCK, left)
        end
        true
      end
    end

    private

    # A trap handler cannot wait on a lock: a thread waits for the jobs,
    # then puts the signal's old disposition back and sends it again.
    def default_after_stop(signal, previous, grace)
      Thread.new do
        wait_for_work(grace)
        sleep SETTLE_SECONDS
        Signal.trap(signal, previous || "DEFAULT")
        Process.kill(signal, Process.pid)
        # Ruby's default raises SignalException in the main thread, where a
        # `rescue Exception` (Logger#write has one) can swallow it and leave
        # a process that stopped working but never exits. Then the OS's own
        # disposition ends it, once what the store buffers is written.
        sleep SWALLOWED_SIGNAL_SECONDS
        begin
          opened_continuation_store&.flush
        rescue StandardError
          nil # the exit must happen; an unwritten checkpoint is what a SIGKILL would lose
        end
        Signal.trap(signal, "SYSTEM_DEFAULT")
        Process.kill(signal, Process.pid)
      end
    end
  end
end
