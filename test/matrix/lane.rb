# frozen_string_literal: true

# One lane's tests, run inside the lane by bin/matrix (its Ruby, its Rails
# on RUBYOPT; HOLDFAST_LANE names it). Every step runs even when an earlier
# one failed; each prints its time, and the lane fails if any step did.
require "rbconfig"
require "active_support/version"
require_relative "../backends/vendor"

ROOT = File.expand_path("../..", __dir__)
LANE = ENV.fetch("HOLDFAST_LANE") { abort "run this through bin/matrix LANE" }
SYSTEM = ENV.fetch("HOLDFAST_LANE_SYSTEM")
DEBIAN_RAILS = ENV.fetch("HOLDFAST_LANE_RAILS") == "debian"
RAILS = ActiveSupport.gem_version
RUBY_MINOR = RUBY_VERSION[/\A\d+\.\d+/]
# One lane per Ruby runs the slow checks in full: the oldest Rails on Ruby
# 3.1, the newest on Ruby 3.3. The other lanes run them focused.
FULL = %w[ruby3.1-rails6.1 ruby3.3-rails8.1].include?(LANE)

Dir.chdir(ROOT)
$stdout.sync = true
ENV["HOLDFAST_TEST_POSTGRES_URL"] or abort "#{LANE}: HOLDFAST_TEST_POSTGRES_URL is not set (bin/test starts the server)"

def rails_source
  codename = SYSTEM == "debian12" && DEBIAN_RAILS ? "bookworm" : "trixie"
  found = Dir[File.join(ROOT, "tmp", "rails-source", codename, "rails-*", "activesupport")].first
  return File.dirname(found) if found

  if codename == "trixie" && SYSTEM == "sid"
    # bin/matrix cannot enter the Debian 13 root from inside this one: the
    # ruby3.3 lanes (before this one in bin/test) fetch it.
    abort "#{LANE}: Debian 13's Rails source is not in tmp/rails-source/trixie; fetch it first with " \
          "`bin/matrix ruby3.3-rails7.2 --exec bin/rails-source`"
  end
  if codename == "trixie" && SYSTEM == "debian12"
    # Debian 13's Rails source comes from inside the Debian 13 root.
    env = { "RUBYOPT" => nil }
    system(env, File.join(ROOT, "bin", "matrix"), "ruby3.3-rails7.2", "--exec", "bin/rails-source", out: File::NULL) or
      abort "#{LANE}: could not fetch Debian 13's Rails source"
    return File.dirname(Dir[File.join(ROOT, "tmp", "rails-source", codename, "rails-*", "activesupport")].first)
  end
  `bin/rails-source`.strip.tap { |dir| abort "#{LANE}: bin/rails-source failed" unless $?.success? }
end

steps = []
# The Debian unstable lane on sid's Ruby 3.3: Sidekiq 8.1 (with its own
# Active Job adapter) on the extension the Debian 13 lanes built for Ruby
# 3.3, as a precompiled gem meets a newer distribution; nothing else runs
# there. (The Ruby 3.4 lanes in the same root run the full set below.)
SIDEKIQ_ONLY = LANE == "ruby3.3-rails7.2-sid"
if SIDEKIQ_ONLY
  require "sidekiq/version"
  steps << ["the Ruby #{RUBY_MINOR} extension built on Debian 13 loads on Debian unstable",
            [RbConfig.ruby, "-e", 'require "holdfast"; Class.new(Holdfast::Executor).wrap { puts "extension ok: #{RUBY_DESCRIPTION}" }']]
  steps << ["job backends through the Railtie: SIGKILL and TERM mid-step on Sidekiq #{Sidekiq::VERSION} (its own " \
            "Active Job adapter) + Redis, :async",
            { "HOLDFAST_BACKENDS" => "sidekiq,async",
              "HOLDFAST_BACKENDS_REPORT" => File.join(ROOT, "tmp", "backends-#{LANE}.txt") },
            [RbConfig.ruby, "test/backends/backends_test.rb"]]
end
unless SIDEKIQ_ONLY
  steps << ["extension for Ruby #{RUBY_MINOR}", %w[rake -s compile]]
  steps << ["RSpec", %w[rspec]]
  steps << ["RSpec under GC.stress (examples tagged :gc_stress)", { "GC_STRESS" => "1" }, %w[rspec]] if FULL
  source = rails_source
  which = File.basename(source)
  steps << ["Rails' own tests from #{which} (executor, reloader, share lock, interlock)",
            [RbConfig.ruby, "test/external/run_rails_suite.rb", "rails", source]]
  steps << ["compatibility tests written from each version's source (test/compat)",
            [RbConfig.ruby, "test/external/run_rails_suite.rb", "compat"]]
  steps << ["continuations: Active Job behaviour, crash durability, zombie fencing#{" (crash kills at 1/4)" unless FULL}",
            { "HOLDFAST_CRASH_SCALE" => FULL ? "1" : "0.25" }, [RbConfig.ruby, "-Itest", "test/continuation/run.rb"]]
  steps << ["resumable work outside Active Job: Holdfast.resumable on SQLite and PostgreSQL, a rake task " \
            "SIGTERMed and SIGKILLed mid-step then run again",
            [RbConfig.ruby, "-e", "ARGV.each { |file| require File.expand_path(file) }", "test/resumable/resumable_test.rb",
             "test/resumable/rake_test.rb"]]
  steps << ["the dashboard through Rack::Test: every route and status, access, CSRF, escaping, actions",
            [RbConfig.ruby, "test/dashboard/dashboard_test.rb"]]
  if LANE == "ruby3.1-rails6.1"
    # Debian 12's chromium and chromium-driver, on the host (bin/setup).
    steps << ["the dashboard in headless Chromium: an orphan seen, recovered and back (screenshots in tmp/)",
              [RbConfig.ruby, "test/dashboard/browser_test.rb"]]
  end
  if DEBIAN_RAILS
    steps << ["examples/rails_app: Rails #{RAILS} + Puma through the Railtie", [RbConfig.ruby, "examples/rails_app/test/run.rb"]]
    # The Railtie's wiring needs railties, which only Debian's Rails brings.
    sidekiq = begin
      require "sidekiq/version"
      Sidekiq::VERSION
    rescue LoadError
      "(not installed)"
    end
    steps << ["job backends through the Railtie: SIGKILL and TERM mid-step on Sidekiq #{sidekiq} + Redis, " \
              "delayed_job (SQLite), :async",
              { "HOLDFAST_BACKENDS_REPORT" => File.join(ROOT, "tmp", "backends-#{LANE}.txt") },
              [RbConfig.ruby, "test/backends/backends_test.rb"]]
    if RUBY_VERSION >= "3.2"
      steps << ["#{BackendVendor.version("solid_queue")} (Solid Queue) " \
                "through the Railtie: its worker SIGKILLed, the whole tree SIGKILLed, TERM, a backlog; its tables checked",
                { "HOLDFAST_BACKENDS_REPORT" => File.join(ROOT, "tmp", "backends-#{LANE}.txt") },
                [RbConfig.ruby, "test/backends/solid_queue_test.rb"]]
    end
    steps << ["#{BackendVendor.version("good_job")} (GoodJob) through the Railtie on PostgreSQL: `good_job start` " \
              "SIGKILLed, TERM, a backlog when the next worker starts; its rows checked",
              { "HOLDFAST_BACKENDS_REPORT" => File.join(ROOT, "tmp", "backends-#{LANE}.txt") },
              [RbConfig.ruby, "test/backends/good_job_test.rb"]]
    steps << ["the holdfast command and rails holdfast:* tasks on SQLite and PostgreSQL, the install generator, " \
              "`holdfast locks PID`", [RbConfig.ruby, "test/cli/app_test.rb"]]
  end
  # Rails 8.0 and 8.1 with the vendored app trees (railties, actionpack,
  # actionview): the example app booted through the Railtie under Puma, and
  # on 8.1 the database-backed backends; Active Record 8 on PostgreSQL.
  app_trees = $LOAD_PATH.any? { |dir| dir.end_with?("/railties/lib") && dir.start_with?(File.join(ROOT, "tmp")) }
  # Debian builds Puma and pg for its default Ruby only (sid: 3.3), and this
  # archive has no source to build them for 3.4 from (see bin/debian-root).
  native = %w[puma pg].reject { |gem| Gem::Specification.find_all_by_name(gem).any? }
  if !DEBIAN_RAILS && app_trees && !native.empty?
    puts "#{LANE}: not run here: the example app under Puma on PostgreSQL (no #{native.join(" or ")} gem for Ruby #{RUBY_MINOR})"
  end
  if !DEBIAN_RAILS && app_trees && native.empty?
    steps << ["examples/rails_app: Rails #{RAILS} + Puma through the Railtie (on PostgreSQL)",
              { "EXAMPLE_DATABASE_SERVER" => ENV["HOLDFAST_TEST_POSTGRES_URL"] },
              [RbConfig.ruby, "examples/rails_app/test/run.rb"]]
    if LANE == "ruby3.3-rails8.1"
      steps << ["#{BackendVendor.version("solid_queue")} (Solid Queue) on Rails #{RAILS} and PostgreSQL: its worker " \
                "SIGKILLed, the whole tree SIGKILLed, TERM, a backlog; its tables checked",
                { "HOLDFAST_BACKENDS_REPORT" => File.join(ROOT, "tmp", "backends-#{LANE}.txt") },
                [RbConfig.ruby, "test/backends/solid_queue_test.rb"]]
      steps << ["#{BackendVendor.version("good_job")} (GoodJob) on Rails #{RAILS}: `good_job start` SIGKILLed, TERM, " \
                "a backlog when the next worker starts; its rows checked",
                { "HOLDFAST_BACKENDS_REPORT" => File.join(ROOT, "tmp", "backends-#{LANE}.txt") },
                [RbConfig.ruby, "test/backends/good_job_test.rb"]]
    end
  end
  # The fault-injection harness on Holdfast's own continuations (Rails 6.1)
  # and on Rails' own ActiveJob::Continuable (8.1): HOLDFAST_CHAOS_SECONDS
  # of faults on each store.
  if %w[ruby3.1-rails6.1 ruby3.3-rails8.1].include?(LANE)
    steps << ["the fault-injection harness's checker on hand-written outcome logs", [RbConfig.ruby, "test/chaos/checker_test.rb"]]
    %w[sqlite postgres].each do |store|
      steps << ["fault-injection harness on #{store == "sqlite" ? "SQLite" : "PostgreSQL"}: SIGKILL, SIGSTOP across a " \
                "lease, TERM, discard, skewed clocks, a delaying queue, a damaged record, a crash loop; exactly once checked",
                [RbConfig.ruby, "test/chaos/run.rb", store]]
    end
  end
  # bin/demo's SIGKILL-and-resume story on this lane's Active Job (Rails' own
  # ActiveJob::Continuable from 8.1); Active Record 8 keeps the rows in
  # PostgreSQL where the sqlite3 gem is too old for it (Debian 13's 1.7).
  demo_env = { "IMPORT_DEMO_ROWS" => "20000", "IMPORT_DEMO_DIR" => File.join(ROOT, "tmp", "import-demo-#{LANE}") }
  sqlite = Gem::Specification.find_all_by_name("sqlite3").map(&:version).max
  if RAILS >= Gem::Version.new("8.0") && !(sqlite && sqlite >= Gem::Version.new("2.1"))
    demo_env["IMPORT_DEMO_DATABASE_URL"] = ENV["HOLDFAST_TEST_POSTGRES_URL"]
  end
  steps << ["the import demo: its worker SIGKILLed mid-step, recovered by another worker from its durable cursor", demo_env,
            [RbConfig.ruby, "examples/import/run.rb"]]
end

# A step that hangs fails (its process group is killed) instead of using
# up CI's time: none takes more than a few minutes when it works.
STEP_LIMIT = Integer(ENV.fetch("HOLDFAST_STEP_LIMIT", "900"))

def run_bounded(env, command, name)
  pid = Process.spawn(env, *command, pgroup: true)
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + STEP_LIMIT
  loop do
    return $?.success? if Process.wait(pid, Process::WNOHANG)
    break if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

    sleep 0.5
  end
  warn "#{LANE}: #{name} still running after #{STEP_LIMIT}s: killed"
  Process.kill("KILL", -pid)
  Process.wait(pid)
  false
end

failed = []
started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
steps.each do |name, *command|
  env = command.first.is_a?(Hash) ? command.shift : {}
  command = command.first
  puts "\n--> #{LANE}: #{name}"
  $stdout.flush
  t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  ok = run_bounded(env, command, name)
  took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
  puts "--> #{LANE}: #{name}: #{ok ? "ok" : "FAILED"} (#{took.round}s)"
  failed << name unless ok
end
total = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).round
abort "#{LANE} (Ruby #{RUBY_VERSION}, Rails #{RAILS}): failed: #{failed.join("; ")} (#{total}s)" unless failed.empty?
puts "#{LANE} (Ruby #{RUBY_VERSION}, Rails #{RAILS}): every step passed (#{total}s)"
