# frozen_string_literal: true

# Holdfast from this checkout (HOLDFAST_LIB overrides, for tests that copy
# the app elsewhere); Rails and its parts from the system (Debian packages).
$LOAD_PATH.unshift(ENV.fetch("HOLDFAST_LIB") { File.expand_path("../../../lib", __dir__) })
