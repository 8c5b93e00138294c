# frozen_string_literal: true

# Concurrency helpers: waits are bounded so a broken lock fails a test
# instead of hanging the suite.
module Bounded
  # GC.stress slows everything by orders of magnitude; the bound only catches hangs.
  WAIT = ENV["GC_STRESS"] == "1" ? 300 : 10

  def pop_within(queue, seconds = WAIT)
    Timeout.timeout(seconds) { queue.pop }
  end

  def join_within(thread, seconds = WAIT)
    thread.join(seconds) || raise("thread #{thread.inspect} still running after #{seconds}s")
  end
end

RSpec.configure { |c| c.include Bounded }
