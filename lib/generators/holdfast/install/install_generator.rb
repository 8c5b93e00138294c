# frozen_string_literal: true

require "rails/generators"

module Holdfast
  module Generators
    # rails g holdfast:install
    class InstallGenerator < ::Rails::Generators::Base
      source_root File.expand_path("templates", __dir__)
      desc "Writes config/initializers/holdfast.rb: every config.holdfast setting with its default, documented."

      def create_initializer
        template "holdfast.rb.tt", "config/initializers/holdfast.rb"
      end
    end
  end
end
