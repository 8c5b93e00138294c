# frozen_string_literal: true

# The processes of the job-backend tests, each a plain user of the app in
# app.rb (Sidekiq's workers are Sidekiq's own executable with -r app.rb):
#
#   process.rb enqueue JOB_ID ITEMS LOG DELAY   ImportJob.perform_later under JOB_ID
#   process.rb delayed_job                      a delayed_job worker, as `rake jobs:work` runs it
#   process.rb async [JOB_ID ITEMS LOG DELAY]   an app process (as a web server would be) whose
#                                               :async adapter performs jobs; enqueues one if given
require_relative "app"

def enqueue(job_id, items, log, delay)
  job = ImportJob.new(Integer(items), log, Float(delay))
  job.job_id = job_id
  job.enqueue
  puts "enqueued #{job_id}"
end

case ARGV.shift
when "enqueue"
  enqueue(*ARGV)
when "delayed_job"
  Delayed::Worker.sleep_delay = 0.1
  Delayed::Worker.new.start
when "async"
  # A long-lived app process: it exits on TERM once its jobs stopped.
  Holdfast.trap_signals!("TERM")
  enqueue(*ARGV) unless ARGV.empty?
  puts "app process #{Process.pid} up"
  sleep 0.05 until Holdfast.stopping?
  ActiveJob::Base.queue_adapter.shutdown(wait: true)
  puts "app process #{Process.pid} stopped"
else
  abort "usage: process.rb enqueue|delayed_job|async ..."
end
