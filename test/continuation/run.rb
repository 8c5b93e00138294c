# frozen_string_literal: true

# Runs every continuation test in one process:
#   ruby -Itest test/continuation/run.rb
Dir[File.join(__dir__, "*_test.rb")].sort.each { |file| require file }
