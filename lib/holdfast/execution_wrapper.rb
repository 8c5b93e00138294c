# frozen_string_literal: true

module Holdfast
  # API-compatible with ActiveSupport::ExecutionWrapper (Rails 8.1 API, on any
  # Rails or none). The state machine is in the Rust core; the class-level
  # API is Holdfast::ExecutorMethods, #run! and #complete! are native
  # (Holdfast::ExecutionMethods).
  class ExecutionWrapper
    Null = Object.new # :nodoc:
    def Null.complete! # :nodoc:
    end

    @__holdfast_core = Native::ExecutorCore.new
    extend ExecutorMethods
    include ExecutionMethods
  end
end
