# frozen_string_literal: true

# Runs each *_test.rb in a fresh copy of the app (the reload test edits a
# model; every test boots Rails once), so the checkout is never changed.
#
#   ruby examples/rails_app/test/run.rb [test files...]
#
# EXAMPLE_DATABASE_SERVER (a PostgreSQL URL): each test gets a database of
# its own on that server (DATABASE_URL) instead of SQLite: Active Record 8
# needs a newer sqlite3 gem than Debian 13 has.
require "fileutils"
require "tmpdir"
require "rbconfig"

app = File.expand_path("..", __dir__)
lib = File.expand_path("../../lib", app)
tests = ARGV.empty? ? Dir[File.join(__dir__, "*_test.rb")].sort : ARGV.map { |f| File.expand_path(f) }
failed = []

server = ENV["EXAMPLE_DATABASE_SERVER"]
if server
  require "pg"
  require "uri"
end

# A fresh PostgreSQL database on +server+ for one test, dropped after it.
def with_database(server, name)
  return yield({}) unless server

  PG.connect(server) { |db| db.exec("CREATE DATABASE #{db.quote_ident(name)}") }
  begin
    yield("DATABASE_URL" => URI(server).tap { |uri| uri.path = "/#{name}" }.to_s)
  ensure
    PG.connect(server) { |db| db.exec("DROP DATABASE IF EXISTS #{db.quote_ident(name)} WITH (FORCE)") }
  end
end

tests.each_with_index do |test, index|
  Dir.mktmpdir("holdfast-rails-app") do |root|
    %w[app config db test config.ru].each { |entry| FileUtils.cp_r(File.join(app, entry), root) }
    FileUtils.mkdir_p(%w[log tmp].map { |dir| File.join(root, dir) })
    FileUtils.rm_f(Dir[File.join(root, "db", "*.sqlite3*")])
    relative = File.join("test", File.basename(test))
    puts "== examples/rails_app/#{relative}"
    env = { "HOLDFAST_LIB" => lib, "RAILS_ENV" => "development" }
    ok = with_database(server, "holdfast_example_#{Process.pid}_#{index}") do |database|
      system(env.merge(database), RbConfig.ruby, "-Itest", relative, chdir: root)
    end
    unless ok
      log = File.join(root, "log", "development.log")
      puts "-- last lines of log/development.log:", File.readlines(log).last(40).join if File.exist?(log)
      failed << relative
    end
  end
end

abort "Rails app tests failed: #{failed.join(", ")}" unless failed.empty?
puts "Rails app tests passed"
