# frozen_string_literal: true

# Holdfast with its Rails integration (Holdfast::Railtie).
require_relative "../holdfast"
require_relative "railtie"
