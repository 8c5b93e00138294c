# frozen_string_literal: true

require "json"
require "time"
require "tmpdir"

module Holdfast
  # A running process's share-lock and interlock state, asked for from
  # outside (`holdfast locks PID`): the process answers a signal (SIGURG by
  # default, which a process without the handler ignores) by writing its
  # snapshot as JSON to a file only its user can read; the asker waits for
  # the file to change. The Railtie installs the handler.
  module LockSnapshots
    SIGNAL = "URG"

    module_function

    def path(pid)
      File.join(Dir.tmpdir, "holdfast-locks-#{Integer(pid)}.json")
    end

    # The busy locks of this process: [{"lock" => name, "entries" => [...]}]
    # (entries as ShareLock#snapshot gives them).
    def current
      Holdfast.busy_locks.map { |lock, entries| { "lock" => lock.name, "entries" => entries } }
    end

    # Writes this process's snapshot to path(Process.pid): a fresh 0600
    # file renamed over the old one, so a reader sees a whole snapshot and
    # nothing in a shared tmp directory is followed or overwritten.
    def write
      target = path(Process.pid)
      temp = "#{target}.#{Process.pid}.#{rand(1 << 32)}"
      File.open(temp, File::WRONLY | File::CREAT | File::EXCL, 0o600) do |file|
        file.write(JSON.generate({ "pid" => Process.pid, "at" => Time.now.utc.iso8601(3), "locks" => current }))
      end
      File.rename(temp, target)
    rescue SystemCallError => e
      File.unlink(temp) if temp && File.exist?(temp)
      warn "Holdfast: could not write the lock snapshot to #{target}: #{e.message}"
    end

    # Asks process +pid+ for its snapshot; waits up to +timeout+ seconds.
    # Raises Errno::ESRCH for no such process, Errno::EPERM when it is not
    # ours to signal, and Holdfast::Error when it does not answer.
    def request(pid, timeout: 5, signal: SIGNAL)
      file = path(pid)
      before = File.exist?(file) ? File.mtime(file) : nil
      Process.kill(signal, pid)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      loop do
        return read(file) if File.exist?(file) && File.mtime(file) != before
        if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          raise Error, "process #{pid} did not answer SIG#{signal} within #{timeout} s: is it a Holdfast process " \
                       "with lock snapshots on (the Railtie's default, or Holdfast.serve_lock_snapshots!)?"
        end

        sleep 0.02
      end
    end

    def read(file)
      unless File.stat(file).uid == Process.uid
        raise Error, "#{file} belongs to another user; run `holdfast locks` as the process's user"
      end

      JSON.parse(File.read(file))
    end
  end

  class << self
    # Makes +signal+ write this process's lock snapshot for `holdfast locks
    # PID` (see LockSnapshots), then run the handler the signal had before.
    def serve_lock_snapshots!(signal = LockSnapshots::SIGNAL)
      previous = Signal.trap(signal) do |signo|
        # Trap handlers cannot take Ruby mutexes; the snapshot is taken on a thread.
        Thread.new { LockSnapshots.write }.join
        previous.call(signo) if previous.respond_to?(:call)
      end
      signal
    end
  end
end
