# frozen_string_literal: true

module Holdfast
  VERSION = "0.1.0"
end
