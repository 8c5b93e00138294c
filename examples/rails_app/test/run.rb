# frozen_string_literal: true

# Runs each *_test.rb in a fresh copy of the app (the reload test edits a
# model; every test boots Rails once), so the checkout is never changed.
#
#   ruby examples/rails_app/test/run.rb [test files...]
require "fileutils"
require "tmpdir"
require "rbconfig"

app = File.expand_path("..", __dir__)
lib = File.expand_path("../../lib", app)
tests = ARGV.empty? ? Dir[File.join(__dir__, "*_test.rb")].sort : ARGV.map { |f| File.expand_path(f) }
failed = []

tests.each do |test|
  Dir.mktmpdir("holdfast-rails-app") do |root|
    %w[app config db test config.ru].each { |entry| FileUtils.cp_r(File.join(app, entry), root) }
    FileUtils.mkdir_p(%w[log tmp].map { |dir| File.join(root, dir) })
    FileUtils.rm_f(Dir[File.join(root, "db", "*.sqlite3*")])
    relative = File.join("test", File.basename(test))
    puts "== examples/rails_app/#{relative}"
    env = { "HOLDFAST_LIB" => lib, "RAILS_ENV" => "development" }
    ok = system(env, RbConfig.ruby, "-Itest", relative, chdir: root)
    unless ok
      log = File.join(root, "log", "development.log")
      puts "-- last lines of log/development.log:", File.readlines(log).last(40).join if File.exist?(log)
      failed << relative
    end
  end
end

abort "Rails app tests failed: #{failed.join(", ")}" unless failed.empty?
puts "Rails app tests passed"
