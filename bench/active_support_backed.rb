# frozen_string_literal: true

# ActiveSupport's own classes, plain vs backed by `holdfast/active_support`.
# Backing changes the whole process, so each side runs in its own process,
# one after the other, with the same cases; the parent prints the ratios.
# Run: rake bench
require "json"
require "open3"
require "rbconfig"

if ENV["HOLDFAST_BENCH_SIDE"]
  require "benchmark/ips"
  require "active_support"
  require "active_support/executor"
  require "active_support/reloader"
  require "active_support/dependencies"
  require "holdfast/active_support" if ENV["HOLDFAST_BENCH_SIDE"] == "backed"

  empty = Class.new(ActiveSupport::Executor)
  eight = Class.new(ActiveSupport::Executor)
  4.times do
    eight.to_run { @seen = true }
    eight.to_complete { @seen }
  end
  reloader = Class.new(ActiveSupport::Reloader)
  reloader.executor = empty
  reloader.check = -> { false }
  interlock = ActiveSupport::Dependencies.interlock
  cases = {
    "Executor.wrap, 0 callbacks" => -> { empty.wrap {} },
    "Executor.wrap, 4+4 blocks" => -> { eight.wrap {} },
    "Reloader.wrap, no change" => -> { reloader.wrap {} },
    "interlock.running {}" => -> { interlock.running {} }
  }
  time = Float(ENV.fetch("BENCH_TIME", "3"))
  results = cases.to_h do |name, work|
    report = Benchmark.ips(quiet: true) do |x|
      x.config(time: time, warmup: 1)
      x.report(name) { work.call }
    end
    [name, report.entries.first.stats.central_tendency]
  end
  puts JSON.generate(results)
  exit
end

sides = %w[plain backed].to_h do |side|
  out, status = Open3.capture2({ "HOLDFAST_BENCH_SIDE" => side }, RbConfig.ruby, "-I#{File.expand_path("../lib", __dir__)}",
                               __FILE__)
  abort "the #{side} side failed" unless status.success?
  [side, JSON.parse(out.lines.last)]
end
puts format("%-30s %18s %18s %8s", "ActiveSupport's own classes", "plain AS/s", "backed by Holdfast/s", "ratio")
sides["plain"].each do |name, plain|
  backed = sides["backed"].fetch(name)
  puts format("%-30s %18.0f %18.0f %7.2fx", name, plain, backed, backed / plain)
end
puts "(#{RUBY_DESCRIPTION}; separate processes, one after the other)"
