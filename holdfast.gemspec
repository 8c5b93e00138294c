# frozen_string_literal: true

require_relative "lib/holdfast/version"

Gem::Specification.new do |spec|
  spec.name = "holdfast"
  spec.version = Holdfast::VERSION
  spec.summary = "Rails' executor, interlock and durable job continuations on a Rust core"
  spec.description = "A drop-in Holdfast::Executor (ActiveSupport::Executor's API) backed by Rust, " \
                     "reachable from Ruby and C."
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
