# frozen_string_literal: true

require "active_job"
require "active_support/core_ext/numeric/time"
require_relative "configuration"

# Holdfast::Continuable: long jobs in steps with cursors (Rails 8.1's
# ActiveJob::Continuable API), whose progress also lives in a durable store
# (Holdfast.continuation_store) so it survives SIGKILL, OOM kills and
# crashes, and whose zombie executions are fenced off.
#
# - Active Job 8.1 and later: Rails' own ActiveJob::Continuable runs the
#   steps; Holdfast adds the store, fencing and its interrupt sources to it
#   (lib/holdfast/continuable/rails.rb). Jobs that include Rails' module
#   directly get the same once Holdfast is configured.
# - Active Job 6.1 to 8.0: Holdfast's implementation of the same API
#   (lib/holdfast/continuable/backport.rb).
if Holdfast::Continuation.rails_continuations?
  require_relative "continuable/rails"
else
  require_relative "continuable/backport"
end
