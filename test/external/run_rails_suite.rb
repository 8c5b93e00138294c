# frozen_string_literal: true

# Runs Rails' own ActiveSupport test files against Holdfast, two ways:
#
# - "drop-in": the constant under test is swapped for Holdfast's class
#   (ActiveSupport::Executor -> Holdfast::Executor), nothing else changed;
# - "backed": the file is unchanged and `holdfast/active_support` is
#   required first, so ActiveSupport's own classes run on Holdfast's core
#   (the harness checks the backing really is installed).
#
# The files come from Debian's Rails source package (fetched by
# bin/rails-source, never committed). Each file also runs against plain
# ActiveSupport first, so a harness fault cannot pass as compatibility.
#
#   ruby test/external/run_rails_suite.rb RAILS_SOURCE_DIR
require "fileutils"
require "tmpdir"
require "rbconfig"

source = ARGV.fetch(0) { abort "usage: run_rails_suite.rb RAILS_SOURCE_DIR" }
lib = File.expand_path("../../lib", __dir__)

EXECUTOR = { "ActiveSupport::Executor" => "Holdfast::Executor" }.freeze
RELOADER = { "ActiveSupport::Reloader" => "Holdfast::Reloader", "ActiveSupport::Executor" => "Holdfast::Executor" }.freeze
SHARE_LOCK = { "ActiveSupport::Concurrency::ShareLock" => "Holdfast::ShareLock" }.freeze
NO_DETECTION = { "HOLDFAST_DETECT_DEADLOCKS" => "0" }.freeze
DETECTION = { "HOLDFAST_DETECT_DEADLOCKS" => "1" }.freeze
# With deadlock detection on (Holdfast's default), test_exclusive_conflicting_purpose
# is left out: it builds a real deadlock (upgrades to :red and :blue, each
# incompatible with the other) and asserts the threads hang, where Holdfast
# raises DeadlockError instead; spec/share_lock_spec.rb asserts that scenario.
# With detection off (Rails' behaviour) every test must pass.
HANGS_BY_DESIGN = ["--exclude", "test_exclusive_conflicting_purpose"].freeze
INTERLOCK_TEST = "activesupport/test/concurrency/load_interlock_aware_monitor_test.rb"

# [file, mode, constant swaps (drop-in), extra environment, minitest options]
SUITES = [
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

failures = []
controls = {}
SUITES.each do |relative, mode, swaps, env, options|
  path = File.join(source, relative)
  abort "#{path} is missing: run bin/rails-source first" unless File.exist?(path)
  text = File.read(path)
  inside_tests = relative.delete_prefix("activesupport/test/")
  Dir.mktmpdir("holdfast-rails-suite") do |dir|
    File.write(File.join(dir, "abstract_unit.rb"), ABSTRACT_UNIT)
    file = File.join(dir, inside_tests)
    FileUtils.mkdir_p(File.dirname(file))
    body = swaps.reduce(text) { |t, (from, to)| t.gsub(from, to) }
    runs = [[mode.to_s, body, env.merge("HOLDFAST_MODE" => mode.to_s)]]
    # The control: the same file against ActiveSupport itself, once per file.
    runs.unshift(["control (plain ActiveSupport)", text, { "HOLDFAST_MODE" => "none" }]) unless controls[relative]
    controls[relative] = true
    runs.each do |label, run_body, run_env|
      File.write(file, run_body)
      described = label == mode.to_s ? "#{label} #{swaps.values.uniq.join(", ")} #{env.map { |k, v| "#{k}=#{v}" }.join(" ")}" : label
      puts "== #{relative}: #{described} #{options.join(" ") if label == mode.to_s}"
      ok = system(run_env, RbConfig.ruby, "-I#{lib}", file, *(label == mode.to_s ? options : []))
      failures << "#{relative} (#{described})" unless ok
    end
  end
end

abort "Rails suites failed:\n  #{failures.join("\n  ")}" unless failures.empty?
puts "Rails suites passed"
