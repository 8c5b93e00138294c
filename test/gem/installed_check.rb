# frozen_string_literal: true

# Run by bin/gem-check from outside the checkout, with GEM_HOME pointing at
# a throwaway gem directory that holds an installed holdfast gem: checks the
# gem's own extension is what loaded, and that it works.
require "holdfast"
require "tmpdir"

gem_home = ENV.fetch("GEM_HOME")
loaded = $LOADED_FEATURES.grep(/holdfast\.so\z/)
abort "no holdfast.so was loaded" if loaded.empty?
abort "loaded #{loaded.first}, not the installed gem's (under #{gem_home})" unless loaded.all? { |f| f.start_with?(gem_home) }

executor = Class.new(Holdfast::Executor)
log = []
executor.to_run { log << :run }
executor.to_complete { log << :complete }
executor.wrap { log << :body }
abort "executor: #{log.inspect}" unless log == %i[run body complete]

require "holdfast/active_support"
unless Holdfast::ActiveSupport.installed? && ActiveSupport::Executor.wrap { ActiveSupport::Executor.active? }
  abort "Active Support #{ActiveSupport.gem_version} is not backed"
end

Dir.mktmpdir do |dir|
  store = Holdfast::Store.sqlite(File.join(dir, "check.sqlite3"))
  execution = store.begin_execution("gem-check", "CheckJob")
  execution.checkpoint(completed: ["one"], current: ["two", "[7]"])
  abort "store: #{store.get("gem-check").inspect}" unless store.get("gem-check")["current"] == ["two", "[7]"]
  store.close
end

# The gem's executable, as RubyGems installed it.
executable = File.join(gem_home, "bin", "holdfast")
version = IO.popen([executable, "--version"], err: %i[child out], &:read)
abort "#{executable} --version: #{version.inspect}" unless version == "holdfast #{Holdfast::VERSION}\n"

puts "Ruby #{RUBY_VERSION}: the installed gem works from #{Dir.pwd} (#{loaded.first}), " \
     "backs Active Support #{ActiveSupport.gem_version}, and keeps progress in SQLite"
