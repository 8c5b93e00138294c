# frozen_string_literal: true

# For each Ruby version (stubbed: this machine has only some of them),
# which of the two gems it may install: RubyGems installs a gem only on a
# Ruby its required_ruby_version admits, and prefers a matching platform
# gem to the source gem. The platform gem must admit exactly the Rubies it
# carries an extension for (3.2, between 3.1 and 3.3, and 3.5 take the
# source gem), and the source gem every Ruby from 3.0.
#
#   ruby test/gem/selection_check.rb PLATFORM_GEM SOURCE_GEM
require "rubygems"
require "rubygems/package"

platform_gem, source_gem = ARGV.map { |file| Gem::Package.new(file).spec }
abort "usage: selection_check.rb PLATFORM_GEM SOURCE_GEM" unless platform_gem && source_gem
carried = platform_gem.metadata.fetch("holdfast_extensions_for").split

failures = []
versions = %w[3.0.7 3.1.0 3.1.7 3.2.0 3.2.0.preview1 3.2.4 3.2.9 3.2.11 3.3.0 3.3.8 3.4.0 3.4.11
              3.5.0.preview1 3.5.0 4.0.0]
versions.each do |version|
  ruby = Gem::Version.new(version)
  candidates = [platform_gem, source_gem].select { |spec| spec.required_ruby_version.satisfied_by?(ruby) }
  chosen = candidates.find { |spec| spec.platform != "ruby" } || candidates.first
  minor = version[/\A\d+\.\d+/]
  expected = carried.include?(minor) && !ruby.prerelease? ? platform_gem.platform.to_s : "ruby"
  got = chosen ? chosen.platform.to_s : "(none)"
  ok = got == expected
  puts format("Ruby %-15s -> %-14s %s", version, got, ok ? "ok" : "WRONG (expected #{expected})")
  failures << version unless ok
end
puts "the platform gem carries #{carried.join(", ")}; its required_ruby_version has " \
     "#{platform_gem.required_ruby_version.requirements.size} constraints"
abort "the wrong gem for Ruby #{failures.join(", ")}" unless failures.empty?
