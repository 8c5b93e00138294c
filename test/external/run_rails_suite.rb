# frozen_string_literal: true

# Runs Active Support test files against Holdfast, three ways:
#
# - "control": the file as it is, against plain Active Support, first, so a
#   test that does not hold for this Active Support (or a harness fault)
#   cannot pass as compatibility;
# - "drop-in": the constant under test swapped for Holdfast's class
#   (ActiveSupport::Executor -> Holdfast::Executor), nothing else changed;
# - "backed": the file unchanged with `holdfast/active_support` required
#   first, so Active Support's own classes run on Holdfast's core (the
#   harness checks the backing really is installed).
#
#   ruby test/external/run_rails_suite.rb rails RAILS_SOURCE_DIR
#     Rails' own tests from a Rails source tree (Debian's source packages:
#     6.1 on Debian 12, 7.2 on Debian 13; bin/rails-source fetches them).
#     Run against another Active Support (the matrix runs 7.2's files on
#     7.0 to 8.1), the tests for what that version does not have are left
#     out, each with the reason (LEFT_OUT below).
#   ruby test/external/run_rails_suite.rb compat
#     Holdfast's compatibility tests (test/compat), written from each
#     version's source for the behaviour that differs between versions.
require "fileutils"
require "tmpdir"
require "rbconfig"
require "active_support/version"

kind = ARGV.fetch(0) { abort "usage: run_rails_suite.rb rails RAILS_SOURCE_DIR | compat" }
lib = File.expand_path("../../lib", __dir__)
VERSION = ActiveSupport.gem_version

def version?(requirement)
  Gem::Requirement.new(requirement).satisfied_by?(VERSION)
end

EXECUTOR = { "ActiveSupport::Executor" => "Holdfast::Executor" }.freeze
RELOADER = { "ActiveSupport::Reloader" => "Holdfast::Reloader", "ActiveSupport::Executor" => "Holdfast::Executor" }.freeze
SHARE_LOCK = { "ActiveSupport::Concurrency::ShareLock" => "Holdfast::ShareLock" }.freeze
INTERLOCK = { "ActiveSupport::Dependencies::Interlock" => "Holdfast::Interlock" }.freeze
ISOLATION = { "ActiveSupport::IsolatedExecutionState" => "Holdfast::IsolatedExecutionState" }.freeze
NO_DETECTION = { "HOLDFAST_DETECT_DEADLOCKS" => "0" }.freeze
DETECTION = { "HOLDFAST_DETECT_DEADLOCKS" => "1" }.freeze
# With deadlock detection on (Holdfast's default), test_exclusive_conflicting_purpose
# is left out: it builds a real deadlock (upgrades to :red and :blue, each
# incompatible with the other) and asserts the threads hang, where Holdfast
# raises DeadlockError instead; spec/share_lock_spec.rb asserts that scenario.
# With detection off (Rails' behaviour) every test must pass.
HANGS_BY_DESIGN = ["test_exclusive_conflicting_purpose"].freeze
INTERLOCK_TEST = "activesupport/test/concurrency/load_interlock_aware_monitor_test.rb"

# Tests of a newer Rails's files that exercise what this Active Support
# does not have: [requirement, file, test-name patterns (or :file), why].
LEFT_OUT = [
  ["< 7.1", "activesupport/test/executor_test.rb", ["test_wrap_report_errors"],
   "wrap(source:) and ActiveSupport.error_reporter arrived in 7.1 (test/compat covers 7.0's reporter)"],
  ["< 7.1", "activesupport/test/reloader_test.rb", ["test_report_errors_once"],
   "ActiveSupport::ErrorReporter's test helpers arrived in 7.1"],
  ["< 7.1", INTERLOCK_TEST, ["ThreadLoadInterlockAwareMonitorTest"],
   "ThreadLoadInterlockAwareMonitor arrived in 7.1"],
  [">= 8.1", INTERLOCK_TEST, :file,
   "8.1 made LoadInterlockAwareMonitor a deprecated alias of ::Monitor (test/compat covers 8.1's interlock)"]
].freeze

# [file, mode, constant swaps (drop-in), extra environment, tests left out]
RAILS_SUITES = [
  ["activesupport/test/executor_test.rb", :drop_in, EXECUTOR, {}, []],
  ["activesupport/test/executor_test.rb", :backed, {}, {}, []],
  ["activesupport/test/reloader_test.rb", :drop_in, RELOADER, {}, []],
  ["activesupport/test/reloader_test.rb", :backed, {}, {}, []],
  ["activesupport/test/share_lock_test.rb", :drop_in, SHARE_LOCK, NO_DETECTION, []],
  ["activesupport/test/share_lock_test.rb", :drop_in, SHARE_LOCK, DETECTION, HANGS_BY_DESIGN],
  ["activesupport/test/share_lock_test.rb", :backed, {}, NO_DETECTION, []],
  ["activesupport/test/share_lock_test.rb", :backed, {}, DETECTION, HANGS_BY_DESIGN],
  [INTERLOCK_TEST, :backed, {}, NO_DETECTION, []],
  [INTERLOCK_TEST, :backed, {}, DETECTION, []]
].freeze

COMPAT = File.expand_path("../compat", __dir__)
COMPAT_SUITES = [
  ["executor_compat_test.rb", :drop_in, EXECUTOR.merge(ISOLATION), {}, []],
  ["executor_compat_test.rb", :backed, {}, {}, []],
  ["reloader_compat_test.rb", :drop_in, RELOADER, {}, []],
  ["reloader_compat_test.rb", :backed, {}, {}, []],
  ["interlock_compat_test.rb", :backed, {}, NO_DETECTION, []]
].freeze

# Stands in for Rails' abstract_unit.rb, which needs Bundler and the Rails
# repository: ActiveSupport, its TestCase, and autorun.
ABSTRACT_UNIT = <<~RUBY
  # frozen_string_literal: true
  require "active_support"
  require "active_support/test_case"
  require "active_support/testing/autorun"
  case ENV["HOLDFAST_MODE"]
  when "drop_in"
    require "holdfast"
  when "backed"
    require "holdfast/active_support"
    core = ActiveSupport::Executor.instance_variable_get(:@__holdfast_core)
    lock = ActiveSupport::Dependencies.interlock.instance_variable_get(:@lock)
    unless Holdfast::ActiveSupport.installed? && core.is_a?(Holdfast::Native::ExecutorCore) &&
           lock.holdfast_lock.is_a?(Holdfast::ShareLock)
      abort "holdfast/active_support did not back ActiveSupport"
    end
  end
RUBY

case kind
when "rails"
  source = ARGV.fetch(1) { abort "usage: run_rails_suite.rb rails RAILS_SOURCE_DIR" }
  suites = RAILS_SUITES.map { |file, *rest| [File.join(source, file), file.delete_prefix("activesupport/test/"), *rest] }
  left_out = LEFT_OUT.select { |requirement, *| version?(requirement) }
when "compat"
  suites = COMPAT_SUITES.map { |file, *rest| [File.join(COMPAT, file), file, *rest] }
  left_out = []
else
  abort "usage: run_rails_suite.rb rails RAILS_SOURCE_DIR | compat"
end

left_out.each { |_, file, tests, why| puts "-- leaving out #{tests == :file ? "all of" : tests.join(", ")} in #{file} on Active Support #{VERSION}: #{why}" }
failures = []
controls = {}
suites.each do |path, inside_tests, mode, swaps, env, excluded|
  abort "#{path} is missing: run bin/rails-source first" unless File.exist?(path)
  relative = kind == "rails" ? "activesupport/test/#{inside_tests}" : "test/compat/#{inside_tests}"
  skipped = left_out.select { |_, file, *| file == relative }
  next if skipped.any? { |_, _, tests, _| tests == :file }

  version_excluded = skipped.flat_map { |_, _, tests, _| tests }
  helper = File.join(COMPAT, "compat_helper.rb") if kind == "compat"
  Dir.mktmpdir("holdfast-rails-suite") do |dir|
    File.write(File.join(dir, "abstract_unit.rb"), ABSTRACT_UNIT)
    file = File.join(dir, inside_tests)
    FileUtils.mkdir_p(File.dirname(file))
    runs = [[mode.to_s, swaps, env.merge("HOLDFAST_MODE" => mode.to_s), excluded + version_excluded]]
    # The control: the same file against ActiveSupport itself, once per file.
    unless controls[relative]
      runs.unshift(["control (plain ActiveSupport)", {}, { "HOLDFAST_MODE" => "none" }, version_excluded])
    end
    controls[relative] = true
    runs.each do |label, run_swaps, run_env, exclude|
      swap = ->(source) { run_swaps.reduce(File.read(source)) { |t, (from, to)| t.gsub(from, to) } }
      File.write(file, swap.call(path))
      # The compatibility tests' shared helper goes beside them, swapped alike.
      File.write(File.join(dir, "compat_helper.rb"), swap.call(helper)) if helper
      described = label == mode.to_s ? "#{label} #{swaps.values.uniq.join(", ")} #{env.map { |k, v| "#{k}=#{v}" }.join(" ")}" : label
      options = exclude.empty? ? [] : ["--exclude", "/#{exclude.join("|")}/"]
      puts "== #{relative} on Active Support #{VERSION}: #{described} #{options.join(" ")}"
      ok = system(run_env, RbConfig.ruby, "-I#{lib}", "-I#{dir}", file, *options)
      failures << "#{relative} (#{described})" unless ok
    end
  end
end

abort "#{kind} suites failed:\n  #{failures.join("\n  ")}" unless failures.empty?
puts "#{kind} suites passed on Active Support #{VERSION}"
