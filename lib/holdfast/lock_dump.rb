# frozen_string_literal: true

module Holdfast
  # Every Holdfast::ShareLock in the process, for Holdfast.dump_locks.
  LOCKS = ObjectSpace::WeakMap.new
  private_constant :LOCKS

  class << self
    # Writes the state of every lock that someone holds or waits for: who
    # holds a share or the exclusive lock, who waits for what and for how
    # long. Reads copies of the locks' states; never stops them.
    def dump_locks(io = $stderr)
      busy = busy_locks
      io.puts "Holdfast locks at #{Time.now.utc}: #{busy.empty? ? "none held or awaited" : "#{busy.size} busy"}"
      busy.each do |lock, snapshot|
        io.puts "  #{lock.name}:"
        snapshot.each { |entry| io.puts "    #{describe_lock_entry(entry)}" }
      end
      io.flush if io.respond_to?(:flush)
      busy.size
    end

    # [[lock, snapshot]] for every lock someone holds or waits for.
    def busy_locks
      LOCKS.keys.map { |lock| [lock, lock.snapshot] }.reject { |_, snapshot| snapshot.empty? }
    end

    # Makes +signal+ (e.g. "TTIN": `kill -TTIN <pid>`) dump the locks to
    # $stderr, then run whatever handler the signal had before.
    def trap_dump(signal = "TTIN")
      previous = Signal.trap(signal) do |signo|
        # Trap handlers cannot take Ruby mutexes; the dump runs on a thread.
        Thread.new { dump_locks }.join
        previous.call(signo) if previous.respond_to?(:call)
      end
      signal
    end

    # One entry of a snapshot (the shape crates/holdfast/src/share_lock/
    # snapshot.rs documents) as a line.
    def describe_lock_entry(entry)
      holds = []
      holds << "share ×#{entry["sharing"]}" if entry["sharing"].positive?
      holds << "exclusive (purpose #{purpose_text(entry["exclusive_purpose"])})" if entry["exclusive"]
      who = entry["name"] || format("context 0x%x", entry["context"])
      parts = ["#{who}: #{holds.empty? ? "holds nothing" : "holds #{holds.join(" and ")}"}"]
      if entry["waiting"]
        compatible = entry["compatible"].map { |purpose| purpose_text(purpose) }.join(", ")
        parts << "yielded its shares (purpose #{purpose_text(entry["purpose"])}, compatible [#{compatible}])"
      end
      parts << format("sleeping in %s for %.2fs", entry["sleeper"], entry["waited_seconds"]) if entry["sleeper"]
      parts.join("; ")
    end

    private

    # As Ruby shows the value: :load, false, nil.
    def purpose_text(purpose)
      purpose.is_a?(String) ? ":#{purpose}" : purpose.inspect
    end
  end

  class ShareLock
    alias __holdfast_initialize initialize
    private :__holdfast_initialize

    def initialize(...)
      __holdfast_initialize(...)
      # The lock itself as the value: Ruby 3.1's WeakMap corrupts its table
      # under GC.compact when values are immediates such as true.
      LOCKS[self] = self
    end
  end
end
