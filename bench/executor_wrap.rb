# frozen_string_literal: true

# Holdfast::Executor.wrap vs ActiveSupport::Executor.wrap in one process,
# side by side: no callbacks, 4 run + 4 complete block callbacks, and a
# nested (re-entrant) wrap. Prints each ratio. Run: rake bench
require "active_support"
require "active_support/executor"
require "benchmark/ips"
require "holdfast"

def executors(base)
  empty = Class.new(base)
  eight = Class.new(base)
  4.times do
    eight.to_run { @seen = true }
    eight.to_complete { @seen }
  end
  { empty: empty, eight: eight }
end

as = executors(ActiveSupport::Executor)
hf = executors(Holdfast::Executor)
cases = {
  "0 callbacks" => [-> { as[:empty].wrap {} }, -> { hf[:empty].wrap {} }],
  "4+4 block callbacks" => [-> { as[:eight].wrap {} }, -> { hf[:eight].wrap {} }],
  "nested, 0 callbacks" => [-> { as[:empty].wrap { as[:empty].wrap {} } }, -> { hf[:empty].wrap { hf[:empty].wrap {} } }]
}

time = Float(ENV.fetch("BENCH_TIME", "3"))
summary = cases.map do |name, (as_case, hf_case)|
  report = Benchmark.ips(quiet: true) do |x|
    x.config(time: time, warmup: 1)
    x.report("ActiveSupport #{name}") { as_case.call }
    x.report("Holdfast #{name}") { hf_case.call }
  end
  as_ips, hf_ips = report.entries.map { |e| e.stats.central_tendency }
  [name, as_ips, hf_ips]
end

puts format("%-22s %16s %16s %8s", "wrap {}", "ActiveSupport/s", "Holdfast/s", "ratio")
summary.each do |name, as_ips, hf_ips|
  puts format("%-22s %16.0f %16.0f %7.2fx", name, as_ips, hf_ips, hf_ips / as_ips)
end
puts "(#{RUBY_DESCRIPTION}; ActiveSupport #{ActiveSupport::VERSION::STRING})"
