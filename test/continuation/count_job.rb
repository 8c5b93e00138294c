# frozen_string_literal: true

# The job the crash, zombie and recovery tests run: it counts items
# 0...items in steps of step_size, writing "item time_ms pid" to +log+
# (unbuffered, so a SIGKILL loses nothing written) and "item N" to stdout
# after each item, then advances the cursor (a checkpoint).
#
# On Active Job 8.1+ it includes Rails' own ActiveJob::Continuable and
# nothing of Holdfast's: Holdfast.configure alone makes its progress durable.
class CountJob < ActiveJob::Base
  include Holdfast::Continuation.rails_continuations? ? ActiveJob::Continuable : Holdfast::Continuable

  def perform(items, step_size, log, delay)
    out = File.open(log, "a")
    out.sync = true
    (items / step_size).times do |s|
      step :"s#{s}", start: s * step_size do |step|
        while step.cursor < (s + 1) * step_size
          out.write("#{step.cursor} #{(Time.now.to_f * 1000).round} #{Process.pid}\n")
          $stdout.write("item #{step.cursor}\n")
          $stdout.flush
          sleep(delay) if delay.positive?
          step.advance!
        end
      end
    end
  end
end
