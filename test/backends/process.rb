# frozen_string_literal: true

# The processes of the job-backend tests, each a plain user of the app in
# app.rb (Sidekiq's workers are Sidekiq's own executable with -r app.rb):
#
#   process.rb enqueue JOB_ID ITEMS LOG DELAY   ImportJob.perform_later under JOB_ID
#   process.rb fill COUNT SECONDS PRIORITY LOG  COUNT FillerJobs of SECONDS each, at PRIORITY
#   process.rb delayed_job                      a delayed_job worker, as `rake jobs:work` runs it
#   process.rb solid_queue                      Solid Queue's supervisor (fork mode: a forked worker
#                                               and dispatcher), as `bin/jobs` starts it
#   process.rb good_job                         GoodJob's CLI, as `good_job start` runs it (run
#                                               in APP_ROOT: it loads config/environment.rb)
#   process.rb good_job_async                   an app process running GoodJob in async mode,
#                                               wired as GoodJob's README wires Puma
#   process.rb good_job_restart                 GoodJob's capsule shut down and started again
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
when "fill"
  count, seconds, priority, log = ARGV
  Integer(count).times { FillerJob.set(priority: Integer(priority)).perform_later(Float(seconds), log) }
when "delayed_job"
  Delayed::Worker.sleep_delay = 0.1
  Delayed::Worker.new.start
when "solid_queue"
  SolidQueue::Supervisor.start(mode: :fork, skip_recurring: true,
                               workers: [{ queues: "*", threads: Integer(ENV.fetch("WORKER_THREADS", "2")),
                                           processes: 1, polling_interval: 0.1 }],
                               dispatchers: [{ polling_interval: 0.2, batch_size: 100 }])
when "good_job"
  require "good_job/cli"
  GoodJob::CLI.within_exe = true
  GoodJob::CLI.log_to_stdout = false # the app logs to stdout already
  GoodJob::CLI.start(["start"])
when "good_job_async"
  # GoodJob's Puma advice: shut the capsule down at exit. TERM ends the
  # process as a server's own handler would.
  at_exit { GoodJob.shutdown(timeout: 25) }
  trap("TERM") { exit }
  puts "app process #{Process.pid} up (GoodJob #{GoodJob.configuration.execution_mode})"
  sleep
when "good_job_restart"
  # What a forking server does: the capsule shut down (in the master), then
  # started again (in each worker).
  GoodJob.capsule.start
  GoodJob.capsule.shutdown
  puts "after shutdown: stopping=#{Holdfast.stopping?} recovery=#{Holdfast.recovery_running?}"
  GoodJob.capsule.start
  puts "after restart: stopping=#{Holdfast.stopping?} recovery=#{Holdfast.recovery_running?}"
  GoodJob.capsule.shutdown
when "async"
  # A long-lived app process: it exits on TERM once its jobs stopped.
  Holdfast.trap_signals!("TERM")
  enqueue(*ARGV) unless ARGV.empty?
  puts "app process #{Process.pid} up"
  sleep 0.05 until Holdfast.stopping?
  ActiveJob::Base.queue_adapter.shutdown(wait: true)
  puts "app process #{Process.pid} stopped"
else
  abort "usage: process.rb enqueue|fill|delayed_job|solid_queue|good_job|good_job_async|good_job_restart|async ..."
end
