# frozen_string_literal: true

require_relative "lib/holdfast/version"

# Two gems from this file:
# - the source gem (default): compiles the extension with cargo at install
#   time (ext/holdfast/extconf.rb), for any Ruby and platform Rust targets;
# - the precompiled x86_64-linux gem (HOLDFAST_GEM_PLATFORM=x86_64-linux,
#   `rake gem:platform`): carries lib/holdfast/<ruby minor>/holdfast.so for
#   each Ruby it was built for (bin/matrix builds 3.1, 3.3 and 3.4) and needs no
#   Rust to install. RubyGems prefers it on a matching platform and Ruby.
Gem::Specification.new do |spec|
  spec.name = "holdfast"
  spec.version = Holdfast::VERSION
  spec.summary = "Rails' executor, interlock and durable job continuations on a Rust core"
  spec.description = "Rails' executor, reloader and load interlock on a Rust core (drop-in, or backing " \
                     "ActiveSupport's own classes), and Rails 8.1's job continuations on Rails 6.1+ with progress " \
                     "in a durable store (SQLite or PostgreSQL) that survives SIGKILL and fences off zombie executions."
  spec.authors = ["Holdfast developers"]
  spec.license = "MIT"
  spec.require_paths = ["lib"]
  spec.bindir = "exe"
  spec.executables = ["holdfast"]

  platform = ENV.fetch("HOLDFAST_GEM_PLATFORM", "")
  if platform.empty?
    spec.required_ruby_version = ">= 3.0"
    # FNM_DOTMATCH keeps vendored crates' .cargo-checksum.json files.
    patterns = %w[lib/**/*.rb lib/**/*.rake lib/**/*.tt exe/* ext/holdfast/**/* crates/holdfast/**/* README.md]
    spec.files = patterns.flat_map { |p| Dir.glob(p, File::FNM_DOTMATCH) }
                         .reject { |f| File.directory?(f) || f.include?("/target/") || f.end_with?(".so", "Makefile") }
    spec.extensions = ["ext/holdfast/extconf.rb"]
  else
    built = Dir.glob("lib/holdfast/*/holdfast.so").sort
    rubies = built.map { |path| File.basename(File.dirname(path)) }
    raise "no extension under lib/holdfast/<ruby minor>/ to package: build one per Ruby (bin/matrix)" if rubies.empty?

    spec.platform = Gem::Platform.new(platform)
    spec.files = Dir.glob(%w[lib/**/*.rb lib/**/*.rake lib/**/*.tt exe/*]) + built + ["README.md"]
    # Only the Rubies it carries an extension for; any other takes the source
    # gem. A requirement cannot say "3.1 or 3.3", so a minor in between that
    # it does not carry (3.2) is excluded release by release: every 3.2.x,
    # its previews and release candidates.
    carried = rubies.map { |minor| Gem::Version.new(minor) }
    oldest, newest = carried.minmax
    major, minor = newest.segments
    between = (oldest.segments[1]...minor).map { |m| Gem::Version.new("#{major}.#{m}") } - carried
    gaps = between.flat_map do |gap|
      releases = (0..29).map { |patch| "#{gap}.#{patch}" }
      prereleases = %w[preview1 preview2 preview3 rc1 rc2 dev].map { |pre| "#{gap}.0.#{pre}" }
      (releases + prereleases).map { |version| "!= #{version}" }
    end
    spec.required_ruby_version = [">= #{oldest}", "< #{major}.#{minor + 1}.dev", *gaps]
    spec.metadata["holdfast_extensions_for"] = rubies.join(" ")
  end
end
