# frozen_string_literal: true

# Runs CountJob (count_job.rb) for the crash and zombie tests, in a child
# process they kill.
#
# Environment: HOLDFAST_STORE_URL, HOLDFAST_DURABILITY (every_checkpoint,
# step_boundaries, interval:<ms>), JOB_ID, ITEMS, STEP_SIZE, LOG, ITEM_DELAY (s);
# ASYNC=1 runs the job on Active Job's :async adapter while the main thread
# waits (as `rails runner` or Puma would), TRAP=1 calls
# Holdfast.trap_signals!("TERM", "INT") first, INFO=1 logs step lines.

$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
require "active_job"
require "holdfast"

# Warnings (a superseded execution says so) reach the parent's pipe.
ActiveJob::Base.logger = Logger.new($stderr, level: ENV["INFO"] ? Logger::INFO : Logger::WARN)
Holdfast.trap_signals!("TERM", "INT") if ENV["TRAP"]
durability = ENV.fetch("HOLDFAST_DURABILITY")
Holdfast.configure do |config|
  config.store = ENV.fetch("HOLDFAST_STORE_URL")
  config.durability = durability.start_with?("interval:") ? { interval: Integer(durability.split(":").last) } : durability.to_sym
  config.lease = Float(ENV["HOLDFAST_LEASE"]) if ENV["HOLDFAST_LEASE"]
end
CONTINUABLE = Holdfast::Continuation.rails_continuations? ? ActiveJob::Continuable : Holdfast::Continuable

require_relative "count_job"

job = CountJob.new(Integer(ENV.fetch("ITEMS")), Integer(ENV.fetch("STEP_SIZE")), ENV.fetch("LOG"),
                   Float(ENV.fetch("ITEM_DELAY", "0")))
job.job_id = ENV.fetch("JOB_ID")
$stdout.write("begin #{CONTINUABLE}\n")
$stdout.flush
if ENV["ASYNC"]
  ActiveJob::Base.queue_adapter = :async
  job.enqueue
  sleep 0.05 until Holdfast.continuation_store.get(job.job_id)&.fetch("completed_at")
else
  job.perform_now
end
$stdout.write("done\n")
Holdfast.continuation_store&.close
