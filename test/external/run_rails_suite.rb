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

# file => [constant in Rails' test, Holdfast's drop-in]
SUITES = {
  "activesupport/test/executor_test.rb" => ["ActiveSupport::Executor", "Holdfast::Executor"]
}.freeze

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
SUITES.each do |relative, (original, replacement)|
  path = File.join(source, relative)
  abort "#{path} is missing: run bin/rails-source first" unless File.exist?(path)
  text = File.read(path)
  Dir.mktmpdir("holdfast-rails-suite") do |dir|
    File.write(File.join(dir, "abstract_unit.rb"), ABSTRACT_UNIT)
    [[original, text, "0"], [replacement, text.gsub(original, replacement), "1"]].each do |constant, body, holdfast|
      file = File.join(dir, File.basename(relative))
      File.write(file, body)
      puts "== #{relative} with #{constant}"
      ok = system({ "HOLDFAST_UNDER_TEST" => holdfast }, RbConfig.ruby, "-I#{lib}", file)
      failures << "#{relative} (#{constant})" unless ok
    end
  end
end

abort "Rails suites failed: #{failures.join(", ")}" unless failures.empty?
puts "Rails suites passed"
