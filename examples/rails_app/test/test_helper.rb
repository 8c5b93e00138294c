# frozen_string_literal: true

# Boots the app (development, as `rails server` would) in the copy test/run.rb
# made, on a fresh SQLite database.
require_relative "../config/environment"
require "minitest/autorun"
require "timeout"
require "json"

ActiveRecord::Schema.verbose = false
load Rails.root.join("db", "schema.rb").to_s

# Bounded waits: a hang fails the test instead of the suite.
module Bounded
  WAIT = 30

  def pop_within(queue, seconds = WAIT)
    Timeout.timeout(seconds) { queue.pop }
  end

  def join_within(thread, seconds = WAIT)
    thread.join(seconds) || raise("#{thread.inspect} still running after #{seconds}s")
  end

  # Waits until +thread+ sleeps in the load interlock's lock in +sleeper+.
  def until_sleeping_in_interlock(thread, sleeper)
    lock = ActiveSupport::Dependencies.interlock.instance_variable_get(:@lock)
    Timeout.timeout(WAIT) do
      Thread.pass until lock.raw_state { |data| data[thread]&.fetch(:sleeper, nil) } == sleeper
    end
  end
end

# Where ItemsController#slow waits: each request announces itself on INSIDE
# and waits for a value on RELEASE.
module RequestGate
  INSIDE = Queue.new
  RELEASE = Queue.new

  def self.enter
    INSIDE << Thread.current
    RELEASE.pop
  end
end

# What TallyJob reports back.
module JobProbe
  DONE = Queue.new

  def self.done(item_id, inside)
    DONE << [item_id, inside]
  end
end

# Reads what the app logged after a point.
module LogReader
  def log_path
    Rails.root.join("log", "#{Rails.env}.log").to_s
  end

  def log_offset
    Rails.logger.flush if Rails.logger.respond_to?(:flush)
    File.size(log_path)
  end

  def log_since(offset)
    Rails.logger.flush if Rails.logger.respond_to?(:flush)
    File.binread(log_path)[offset..].to_s.force_encoding(Encoding::UTF_8)
  end
end

class Minitest::Test
  include Bounded
  include LogReader

  def app
    @app ||= Rack::MockRequest.new(Rails.application)
  end
end
