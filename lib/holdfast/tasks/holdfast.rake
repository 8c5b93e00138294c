# frozen_string_literal: true

# `rails holdfast:*`: the `holdfast` command's work on the app's store (see
# Holdfast::CLI), with the app loaded. Options come as environment variables.
namespace :holdfast do
  run = lambda do |*argv|
    require "holdfast/cli"
    argv << "--format" << ENV["FORMAT"] if ENV["FORMAT"]
    code = Holdfast::CLI.start(argv.flatten.compact)
    exit(code) unless code.zero?
  end
  option = ->(flag, name) { ENV[name] ? [flag, ENV[name]] : [] }

  desc "List continuable jobs (STATE=in_flight|orphaned|completed|any, JOB_CLASS=, LIMIT=, FORMAT=table|json)"
  task list: :environment do
    run.call("list", option.call("--state", "STATE"), option.call("--job-class", "JOB_CLASS"),
             option.call("--limit", "LIMIT"))
  end

  desc "Show one job: steps, cursor, lease, payload (rails holdfast:show[JOB_ID])"
  task :show, [:job_id] => :environment do |_task, args|
    run.call("show", args[:job_id] || ENV["JOB_ID"])
  end

  desc "Re-enqueue orphans, jobs whose worker died (DRY_RUN=1 lists them; LIMIT=)"
  task recover: :environment do
    run.call("recover", ENV["DRY_RUN"] ? "--dry-run" : nil, option.call("--limit", "LIMIT"))
  end

  desc "Drop a job's record on purpose (rails holdfast:discard[JOB_ID])"
  task :discard, [:job_id] => :environment do |_task, args|
    run.call("discard", args[:job_id] || ENV["JOB_ID"])
  end

  desc "Delete records completed before a duration ago (COMPLETED_BEFORE=7d)"
  task prune: :environment do
    run.call("prune", option.call("--completed-before", "COMPLETED_BEFORE"))
  end
end
