# frozen_string_literal: true

require "benchmark/ips"

# Runs each case's ActiveSupport and Holdfast lambdas in the same process
# with benchmark-ips and prints iterations per second and the ratio.
def side_by_side(title, cases)
  time = Float(ENV.fetch("BENCH_TIME", "3"))
  rows = cases.map do |name, (as_case, hf_case)|
    report = Benchmark.ips(quiet: true) do |x|
      x.config(time: time, warmup: 1)
      x.report("ActiveSupport #{name}") { as_case.call }
      x.report("Holdfast #{name}") { hf_case.call }
    end
    as_ips, hf_ips = report.entries.map { |e| e.stats.central_tendency }
    [name, as_ips, hf_ips]
  end
  puts format("%-24s %16s %16s %8s", title, "ActiveSupport/s", "Holdfast/s", "ratio")
  rows.each { |name, as_ips, hf_ips| puts format("%-24s %16.0f %16.0f %7.2fx", name, as_ips, hf_ips, hf_ips / as_ips) }
  puts "(#{RUBY_DESCRIPTION}; ActiveSupport #{ActiveSupport::VERSION::STRING})"
end
