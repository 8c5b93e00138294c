# frozen_string_literal: true

module Holdfast
  # Where the native extension is, for the running Ruby:
  # - lib/holdfast/<ruby minor>/holdfast.so: a checkout (`rake compile`) or
  #   the precompiled platform gem, which carries one per Ruby it supports;
  # - holdfast/holdfast.so on the load path: the source gem, compiled at
  #   install time into the gem's extension directory.
  module Extension
    RUBY_MINOR = RUBY_VERSION[/\A\d+\.\d+/]

    def self.load!
      name = "holdfast.#{RbConfig::CONFIG["DLEXT"]}"
      versioned = File.join(__dir__, RUBY_MINOR, name)
      return require(versioned) if File.exist?(versioned)

      begin
        require "holdfast/holdfast"
      rescue LoadError => e
        built = Dir[File.join(__dir__, "*", name)].map { |path| File.basename(File.dirname(path)) }.sort
        raise LoadError, "Holdfast's native extension for Ruby #{RUBY_MINOR} was not found (#{e.message}). " +
                         (built.empty? ? "Build it with `rake compile`, or install the gem so it compiles " \
                                         "(needs Rust)." : "This copy has it for Ruby #{built.join(", ")} only: " \
                                         "install the source gem (it compiles for your Ruby; needs Rust) or run " \
                                         "`rake compile` with this Ruby.")
      end
    end
  end
end

Holdfast::Extension.load!
