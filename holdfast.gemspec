# frozen_string_literal: true

require_relative "lib/holdfast/version"

Gem::Specification.new do |spec|
  spec.name = "holdfast"
  spec.version = Holdfast::VERSION
  spec.summary = "Rails' executor, interlock and durable job continuations on a Rust core"
  spec.description = "Rails' executor, reloader and load interlock on a Rust core (drop-in, or backing " \
                     "ActiveSupport's own classes), and Rails 8.1's job continuations on Rails 6.1+ with progress " \
                     "in a durable store (SQLite or PostgreSQL) that survives SIGKILL and fences off zombie executions."
  spec.authors = ["Holdfast developers"]
  spec.license = "MIT"
  spec.required_ruby_version = ">= 3.0"

  # FNM_DOTMATCH keeps vendored crates' .cargo-checksum.json files.
  patterns = %w[lib/**/*.rb ext/holdfast/**/* crates/holdfast/**/* README.md]
  spec.files = patterns.flat_map { |p| Dir.glob(p, File::FNM_DOTMATCH) }
                       .reject { |f| File.directory?(f) || f.include?("/target/") || f.end_with?(".so", "Makefile") }
  spec.require_paths = ["lib"]
  spec.extensions = ["ext/holdfast/extconf.rb"]
end
