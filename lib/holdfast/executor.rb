# frozen_string_literal: true

module Holdfast
  # API-compatible with ActiveSupport::Executor. Applications make their own:
  #
  #   AppExecutor = Class.new(Holdfast::Executor)
  #   AppExecutor.to_run { ... }
  #   AppExecutor.wrap { application_code }
  class Executor < ExecutionWrapper
  end
end
