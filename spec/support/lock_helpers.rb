# frozen_string_literal: true

# Waits (bounded) until +thread+ sleeps in +lock+ with the given sleeper,
# reading Rails' raw_state: a condition, not a sleep.
module LockHelpers
  def until_sleeping(lock, thread, sleeper)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + Bounded::WAIT
    loop do
      state = lock.raw_state { |data| data[thread] }
      return if state && state[:sleeper] == sleeper
      raise "#{thread.inspect} never slept in #{sleeper}: #{state.inspect}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      raise "#{thread.inspect} ended before sleeping in #{sleeper}" unless thread.alive?

      Thread.pass
    end
  end

  # A thread named +name+ holding a share of +lock+ until the returned
  # release queue gets a value. Returns [thread, release].
  def hold_share(lock, name)
    inside = Queue.new
    release = Queue.new
    holder = Thread.new do
      Thread.current.name = name
      lock.sharing { inside << true; pop_within(release) }
    end
    pop_within(inside)
    [holder, release]
  end

  # How many times the interrupt specs interrupt a wait (fewer under GC.stress).
  def interrupt_rounds
    Integer(ENV.fetch("INTERRUPT_ROUNDS", ENV["GC_STRESS"] == "1" ? "20" : "1000"))
  end

  # Round +i+ interrupts +thread+ with Thread#kill, an IOError or a
  # Timeout::Error (what Timeout.timeout raises), in turn.
  def interrupt(thread, i)
    case i % 3
    when 0 then thread.kill
    when 1 then thread.raise(IOError, "interrupted #{i}")
    else thread.raise(Timeout::Error, "simulated Timeout #{i}")
    end
  end

  def raw_state_of(lock)
    lock.raw_state { |data| data }
  end
end

RSpec.configure { |c| c.include LockHelpers }
