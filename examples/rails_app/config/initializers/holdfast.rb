# frozen_string_literal: true

# The dashboard at /holdfast refuses everyone until an authentication hook
# is set. An example's password; a real app reads it from its secrets.
Holdfast::Dashboard.basic_auth("ops", ENV.fetch("HOLDFAST_DASHBOARD_PASSWORD", "example-only"))
