# frozen_string_literal: true

# Shared by the compatibility tests: which implementation this run checks
# and which Active Support it runs on.
module CompatHelper
  # Holdfast's classes (drop-in) or Active Support backed by Holdfast: Rails
  # 8.1's API on every version. Otherwise plain Active Support (the control).
  HOLDFAST = ENV["HOLDFAST_MODE"] != "none"
  VERSION = ActiveSupport.gem_version

  def at_least?(version)
    VERSION >= Gem::Version.new(version)
  end

  def executor
    @executor ||= Class.new(ActiveSupport::Executor)
  end
end
