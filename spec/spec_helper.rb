# frozen_string_literal: true

$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "timeout"
require "active_support"
require "active_support/executor"
require "holdfast"

Dir[File.join(__dir__, "support", "*.rb")].sort.each { |f| require f }

RSpec.configure do |config|
  config.disable_monkey_patching!
  config.order = :random
  Kernel.srand config.seed

  # GC_STRESS=1 runs the examples tagged :gc_stress with GC.stress on, so a
  # Ruby value the native side forgot to mark is collected under it.
  if ENV["GC_STRESS"] == "1"
    config.filter_run_including :gc_stress
    config.around(:each, :gc_stress) do |example|
      GC.stress = true
      example.run
    ensure
      GC.stress = false
    end
  end
end
