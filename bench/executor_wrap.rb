# frozen_string_literal: true

# Holdfast::Executor.wrap vs ActiveSupport::Executor.wrap in one process,
# side by side: no callbacks, 4 run + 4 complete block callbacks, and a
# nested (re-entrant) wrap. Prints each ratio. Run: rake bench
require "active_support"
require "active_support/executor"
require_relative "side_by_side"
require "holdfast"

def executors(base)
  empty = Class.new(base)
  eight = Class.new(base)
  4.times do
    eight.to_run { @seen = true }
    eight.to_complete { @seen }
  end
  { empty: empty, eight: eight }
end

as = executors(ActiveSupport::Executor)
hf = executors(Holdfast::Executor)
cases = {
  "0 callbacks" => [-> { as[:empty].wrap {} }, -> { hf[:empty].wrap {} }],
  "4+4 block callbacks" => [-> { as[:eight].wrap {} }, -> { hf[:eight].wrap {} }],
  "nested, 0 callbacks" => [-> { as[:empty].wrap { as[:empty].wrap {} } }, -> { hf[:empty].wrap { hf[:empty].wrap {} } }]
}

side_by_side("wrap {}", cases)
