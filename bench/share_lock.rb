# frozen_string_literal: true

# Holdfast::ShareLock / Holdfast::Interlock against ActiveSupport's in one
# process, uncontended: #sharing {}, #exclusive {} and Interlock#running {}.
# Prints each ratio. Run: rake bench
require "active_support"
require "active_support/concurrency/share_lock"
require "active_support/dependencies"
require "benchmark/ips"
require "holdfast"

as_lock = ActiveSupport::Concurrency::ShareLock.new
hf_lock = Holdfast::ShareLock.new
as_interlock = ActiveSupport::Dependencies::Interlock.new
hf_interlock = Holdfast::Interlock.new

cases = {
  "ShareLock#sharing {}" => [-> { as_lock.sharing {} }, -> { hf_lock.sharing {} }],
  "ShareLock#exclusive {}" => [-> { as_lock.exclusive {} }, -> { hf_lock.exclusive {} }],
  "Interlock#running {}" => [-> { as_interlock.running {} }, -> { hf_interlock.running {} }]
}

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

puts format("%-24s %16s %16s %8s", "uncontended", "ActiveSupport/s", "Holdfast/s", "ratio")
rows.each { |name, as_ips, hf_ips| puts format("%-24s %16.0f %16.0f %7.2fx", name, as_ips, hf_ips, hf_ips / as_ips) }
puts "(#{RUBY_DESCRIPTION}; ActiveSupport #{ActiveSupport::VERSION::STRING})"
