# frozen_string_literal: true

# Runs Rails' own ActiveSupport test files, unchanged except for the constant
# under test, against Holdfast. The files come from Debian's Rails source
# package (fetched by bin/rails-source, never committed). Each file also runs
# against ActiveSupport itself first, so a harness fault cannot pass as
# compatibility.
#
#   ruby test/external/run_rails_suite.rb RAILS_SOURCE_DIR
require "fileutils"
require "tmpdir"
require "rbconfig"

source = ARGV.fetch(0) { abort "usage: run_rails_suite.rb RAILS_SOURCE_DIR" }
lib = File.expand_path("../../lib", __dir__)

# [file, constant in Rails' test, Holdfast's drop-in, extra environment, minitest options]
#
# share_lock_test.rb runs twice against Holdfast. With deadlock detection off
# (Rails' behaviour) every test must pass. With it on (Holdfast's default),
# test_exclusive_conflicting_purpose is left out: it builds a real deadlock
# (upgrades to :red and :blue, each incompatible with the other) and asserts
# the threads hang, where Holdfast raises DeadlockError instead; that very
# scenario is asserted in spec/share_lock_spec.rb.
SUITES = [
  ["activesupport/test/executor_test.rb", "ActiveSupport::Executor", "Holdfast::Executor", {}, []],
  ["activesupport/test/share_lock_test.rb", "ActiveSupport::Concurrency::ShareLock", "Holdfast::ShareLock",
   { "HOLDFAST_DETECT_DEADLOCKS" => "0" }, []],
  ["activesupport/test/share_lock_test.rb", "ActiveSupport::Concurrency::ShareLock", "Holdfast::ShareLock",
   { "HOLDFAST_DETECT_DEADLOCKS" => "1" }, ["--exclude", "test_exclusive_conflicting_purpose"]]
].freeze

# Stands in for Rails' abstract_unit.rb, which needs Bundler and the Rails
# repository: ActiveSupport, its TestCase, and autorun.
ABSTRACT_UNIT = <<~RUBY
  # frozen_string_literal: true
  require "active_support"
  require "active_support/test_case"
  require "active_support/testing/autorun"
  require "holdfast" if ENV["HOLDFAST_UNDER_TEST"] == "1"
RUBY

failures = []
controls = {}
SUITES.each do |relative, original, replacement, env, options|
  path = File.join(source, relative)
  abort "#{path} is missing: run bin/rails-source first" unless File.exist?(path)
  text = File.read(path)
  Dir.mktmpdir("holdfast-rails-suite") do |dir|
    File.write(File.join(dir, "abstract_unit.rb"), ABSTRACT_UNIT)
    runs = [[replacement, text.gsub(original, replacement), env.merge("HOLDFAST_UNDER_TEST" => "1")]]
    # The control: the same file against ActiveSupport itself, once per file.
    runs.unshift([original, text, { "HOLDFAST_UNDER_TEST" => "0" }]) unless controls[relative]
    controls[relative] = true
    runs.each do |constant, body, run_env|
      file = File.join(dir, File.basename(relative))
      File.write(file, body)
      puts "== #{relative} with #{constant} #{env.map { |k, v| "#{k}=#{v}" }.join(" ") if constant == replacement} #{options.join(" ")}"
      ok = system(run_env, RbConfig.ruby, "-I#{lib}", file, *options)
      failures << "#{relative} (#{constant} #{run_env} #{options.join(" ")})" unless ok
    end
  end
end

abort "Rails suites failed: #{failures.join(", ")}" unless failures.empty?
puts "Rails suites passed"
