# frozen_string_literal: true

# The job the harness runs: two steps of ITEMS items each. Every item is a
# side effect (an outcome line) followed by a checkpoint (advance!); after
# the checkpoint returns, an "ok" line says it was accepted. The crash
# looper SIGKILLs its own process each time it reaches +crash_at+.
class ChaosJob < ActiveJob::Base
  include Holdfast::Continuable

  self.resume_options = { wait: 0.1 } if respond_to?(:resume_options=)

  def perform(items, item_delay, crash_at)
    token = holdfast_token
    CHAOS_OUTCOME.call("begin", job_id, token, begin_cursor)
    step(:first, start: 0) { |step| work(step, items, item_delay, crash_at, token) }
    step(:second, start: items) { |step| work(step, 2 * items, item_delay, crash_at, token) }
    CHAOS_OUTCOME.call("end", job_id, token)
  end

  private

  def work(step, upto, item_delay, crash_at, token)
    (step.cursor...upto).each do |item|
      Process.kill(:KILL, Process.pid) if item == crash_at
      CHAOS_OUTCOME.call("item", job_id, token, item)
      sleep(item_delay)
      before = Chaos.now
      step.advance!(from: item)
      CHAOS_OUTCOME.call("ok", job_id, token, item, before)
    end
  end

  # The fencing token of this execution (the harness checks that an older
  # one never commits after a newer one began).
  def holdfast_token
    instance_variable_get(:@__holdfast_durable)&.execution&.token
  end

  def begin_cursor
    name, cursor = __holdfast_position[1..]
    name ? "#{name}:#{cursor}" : "-"
  end
end
