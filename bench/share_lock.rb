# frozen_string_literal: true

# Holdfast::ShareLock / Holdfast::Interlock against ActiveSupport's in one
# process, uncontended: #sharing {}, #exclusive {} and Interlock#running {}.
# Prints each ratio. Run: rake bench
require "active_support"
require "active_support/concurrency/share_lock"
require "active_support/dependencies"
require_relative "side_by_side"
require "holdfast"

as_lock = ActiveSupport::Concurrency::ShareLock.new
hf_lock = Holdfast::ShareLock.new
as_interlock = ActiveSupport::Dependencies::Interlock.new
hf_interlock = Holdfast::Interlock.new

cases = {
  "ShareLock#sharing {}" => [-> { as_lock.sharing {} }, -> { hf_lock.sharing {} }],
  "ShareLock#exclusive {}" => [-> { as_lock.exclusive {} }, -> { hf_lock.exclusive {} }],
  "Interlock#running {}" => [-> { as_interlock.running {} }, -> { hf_interlock.running {} }]
}

side_by_side("uncontended", cases)
