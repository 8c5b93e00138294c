# frozen_string_literal: true

# One worker process of the fault-injection harness: runs jobs from the
# file queue with Holdfast's recovery sweeper on, as a job backend's worker
# would, until TERM. Environment: CHAOS_DIR, CHAOS_SLOT, HOLDFAST_STORE_URL,
# HOLDFAST_LEASE, CHAOS_INTERVAL (the sweeper's), CHAOS_DURABILITY,
# CHAOS_DELAY_JOBS (ids whose later enqueues wait CHAOS_DELAY seconds).

$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
require "active_job"
require "holdfast"
require "holdfast/continuable"
require_relative "chaos"
require_relative "file_queue"

dir = ENV.fetch("CHAOS_DIR")
slot = ENV.fetch("CHAOS_SLOT")
CHAOS_OUTCOME = Chaos::Outcome.new(File.join(dir, "outcome-#{slot}-#{Process.pid}.log"))

logger = Logger.new(File.join(dir, "worker-#{slot}-#{Process.pid}.log"))
logger.formatter = ->(severity, _time, _program, message) { format("%.6f %s %s\n", Chaos.now, severity, message) }
ActiveJob::Base.logger = logger
Holdfast.logger = logger if Holdfast.respond_to?(:logger=)

Holdfast.configure { |config| config.store = Chaos.open_store }

delayed = ENV.fetch("CHAOS_DELAY_JOBS", "").split(",")
delay = Float(ENV.fetch("CHAOS_DELAY", "0"))
queue = Chaos::FileQueue.new(
  File.join(dir, "queue"),
  log: ->(kind, job_id, nth, wait) { CHAOS_OUTCOME.call(kind, job_id, nth, wait) },
  # A busy queue: a job enqueued again (recovered, or resumed after TERM)
  # waits several leases before a worker takes it.
  delay_for: ->(job_id, nth) { nth.positive? && delayed.include?(job_id) ? delay : 0 }
)
ActiveJob::Base.queue_adapter = queue
require_relative "chaos_job"

Holdfast.trap_signals!("TERM")
Holdfast.start_recovery!(interval: Float(ENV.fetch("CHAOS_INTERVAL")))
CHAOS_OUTCOME.call("worker", "-", nil, slot)

until Holdfast.stopping?
  path, job = queue.claim("#{slot}-#{Process.pid}")
  unless path
    sleep 0.02
    next
  end
  File.write(File.join(dir, "busy-#{slot}"), "#{Process.pid} #{job["job_id"]}")
  begin
    ActiveJob::Base.execute(job)
  rescue StandardError => e
    # A backend retries a job that failed (Sidekiq, Solid Queue with
    # retry_on): it goes back to the queue a second later.
    logger.error("chaos worker: #{job["job_id"]} failed (#{e.class}: #{e.message}); retried in 1 s")
    queue.retry_later(path, 1)
    path = nil
  end
  File.write(File.join(dir, "busy-#{slot}"), "#{Process.pid} -")
  queue.done(path) if path
end
sleep # trap_signals! ends the process once its jobs have stopped
