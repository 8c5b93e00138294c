# frozen_string_literal: true

# The job the crash and zombie tests run in a child process (and kill).
# It counts items 0...ITEMS in steps of STEP_SIZE, writing "item time_ms"
# to LOG (unbuffered, so a SIGKILL loses nothing written) and "item N" to
# stdout after each item, then advances the cursor (a checkpoint).
#
# Environment: HOLDFAST_STORE_URL, HOLDFAST_DURABILITY (every_checkpoint,
# step_boundaries, interval:<ms>), JOB_ID, ITEMS, STEP_SIZE, LOG, ITEM_DELAY (s).
#
# On Active Job 8.1+ the job includes Rails' own ActiveJob::Continuable and
# nothing of Holdfast's but Holdfast.configure: that alone makes its
# progress durable.
$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
require "active_job"
require "holdfast"

ActiveJob::Base.logger = Logger.new(nil)
durability = ENV.fetch("HOLDFAST_DURABILITY")
Holdfast.configure do |config|
  config.store = ENV.fetch("HOLDFAST_STORE_URL")
  config.durability = durability.start_with?("interval:") ? { interval: Integer(durability.split(":").last) } : durability.to_sym
end
CONTINUABLE = Holdfast::Continuation.rails_continuations? ? ActiveJob::Continuable : Holdfast::Continuable

class CountJob < ActiveJob::Base
  include CONTINUABLE

  def perform(items, step_size, log, delay)
    out = File.open(log, "a")
    out.sync = true
    (items / step_size).times do |s|
      step :"s#{s}", start: s * step_size do |step|
        while step.cursor < (s + 1) * step_size
          out.write("#{step.cursor} #{(Time.now.to_f * 1000).round}\n")
          $stdout.write("item #{step.cursor}\n")
          $stdout.flush
          sleep(delay) if delay.positive?
          step.advance!
        end
      end
    end
  end
end

job = CountJob.new(Integer(ENV.fetch("ITEMS")), Integer(ENV.fetch("STEP_SIZE")), ENV.fetch("LOG"),
                   Float(ENV.fetch("ITEM_DELAY", "0")))
job.job_id = ENV.fetch("JOB_ID")
$stdout.write("begin #{CONTINUABLE}\n")
$stdout.flush
job.perform_now
$stdout.write("done\n")
Holdfast.continuation_store&.close
