# frozen_string_literal: true

require_relative "helper"
require_relative "steps_test"
require "tmpdir"
require "open3"

class GatedJob < ActiveJob::Base
  include Holdfast::Continuable
  cattr_accessor :gate

  def perform
    step :count, start: 0 do |step|
      while step.cursor < 10
        gate&.call(self, step.cursor)
        step.advance!
      end
    end
  end
end

class DurableTest < ContinuationTestCase
  setup do
    LinearJob.items = []
    GatedJob.gate = nil
  end

  test "progress the store has beyond the payload wins (the process died before re-enqueueing)" do
    job = LinearJob.new
    # What a killed execution left: step one done, step two at cursor 3.
    crashed = @store.begin_execution(job.job_id, "LinearJob")
    crashed.checkpoint(completed: ["one"], current: ["two", Holdfast::Continuation::Cursor.dump(3)])
    job.perform_now
    assert_equal [[:two, 3], [:two, 4], [:two, 5], [:three, false]], LinearJob.items
    record = @store.get(job.job_id)
    assert_equal %w[one two three], record["completed"]
    assert_equal 1, record["resumptions"]
    assert_equal 1, job.resumptions
  end

  test "the payload wins when it is ahead of the store" do
    job = LinearJob.new
    early = @store.begin_execution(job.job_id, "LinearJob")
    early.checkpoint(current: ["one", nil])
    job.deserialize(job.serialize.merge("continuation" => { "completed" => %w[one two] }))
    job.perform_now
    assert_equal [[:three, false]], LinearJob.items
  end

  test "a zombie execution stops at its next checkpoint, logs why, writes nothing and does not fail" do
    inside = Queue.new
    release = Queue.new
    GatedJob.gate = lambda do |job, cursor|
      next unless cursor == 2 && Thread.current[:zombie]

      inside << job.job_id
      release.pop
    end
    zombie = GatedJob.new
    thread = Thread.new do
      Thread.current[:zombie] = true
      Thread.current.report_on_exception = false
      zombie.perform_now
    end
    job_id = Timeout.timeout(10) { inside.pop }

    # The same job runs again elsewhere (a re-delivery) and finishes.
    newer = GatedJob.new
    newer.deserialize(zombie.serialize.merge("continuation" => {}))
    newer.perform_now
    assert_equal job_id, newer.job_id
    finished = @store.get(job_id)
    refute_nil finished["completed_at"]

    log = StringIO.new
    logger = ActiveJob::Base.logger
    ActiveJob::Base.logger = Logger.new(log)
    release << true
    # Not a failure: a failure would be retried, and the retry would take
    # the job back from the execution that owns it.
    assert_nil thread.join(10).value
    assert_match(/Holdfast: GatedJob \(Job ID: #{job_id}\) stopped: execution 1 of job "#{job_id}" is stale: execution 2 owns its progress now/,
                 log.string)
    assert_equal finished, @store.get(job_id), "the zombie wrote nothing"
  ensure
    ActiveJob::Base.logger = logger if logger
  end

  test "under write-behind an interrupt makes the progress durable at once" do
    Dir.mktmpdir do |dir|
      path = File.join(dir, "jobs.sqlite3")
      Holdfast.configure do |c|
        c.store = path
        c.durability = { interval: 60_000 }
      end
      LinearJob.perform_later
      interrupt_job_during_step(LinearJob, :two, cursor: 4) { perform_enqueued_jobs }
      other_process_view = Holdfast::Store.sqlite(path).get(enqueued_jobs.last["job_id"])
      assert_equal ["two", Holdfast::Continuation::Cursor.dump(4)], other_process_view["current"]
      Holdfast.continuation_store.close
    end
  end

  test "store = false keeps progress in the payload only, as Rails does" do
    Holdfast.configure { |c| c.store = false }
    assert_nil Holdfast.continuation_store
    LinearJob.perform_later
    interrupt_job_during_step(LinearJob, :two, cursor: 2) { perform_enqueued_jobs }
    perform_enqueued_jobs
    assert_equal [:one, [:two, 1], [:two, 2], [:two, 3], [:two, 4], [:two, 5], [:three, false]], LinearJob.items
    assert_equal 1, LinearJob.items.count([:two, 2]), "resumed from the payload's cursor"
  end

  test "unconfigured, the store is an SQLite file in the working directory and its first use says where" do
    Dir.mktmpdir do |dir|
      out, status = Open3.capture2e(RbConfig.ruby, "-I#{File.expand_path("../../lib", __dir__)}", "-e", <<~RUBY, chdir: dir)
        require "holdfast"
        require "holdfast/continuable"
        store = Holdfast.continuation_store
        puts store.location
      RUBY
      assert status.success?, out
      real = File.realpath(dir)
      assert_includes out, "Holdfast: continuation progress is kept in #{real}/holdfast_continuations.sqlite3"
      assert_includes out, "SQLite store #{real}/holdfast_continuations.sqlite3"
    end
  end

  test "including both Holdfast::Continuable and Rails' ActiveJob::Continuable gives one implementation" do
    skip "Active Job #{ActiveJob.gem_version} has no continuations of its own" unless RAILS_CONTINUATIONS
    both = Class.new(ActiveJob::Base) do
      include ActiveJob::Continuable
      include Holdfast::Continuable
    end
    assert_equal 1, both.ancestors.count(ActiveJob::Continuable)
    assert_equal [Holdfast::Continuation::RailsDurability, ActiveJob::Continuable],
                 both.ancestors.select { |m| [Holdfast::Continuation::RailsDurability, ActiveJob::Continuable].include?(m) }
    assert_equal [:continue], both._perform_callbacks.map(&:filter).grep(:continue)
  end
end

class AutoloadTest < ContinuationTestCase
  test "Holdfast::Continuable is there after require \"holdfast\", and Active Job loads only when it is used" do
    out, status = Open3.capture2e(RbConfig.ruby, "-I#{File.expand_path("../../lib", __dir__)}", "-e", <<~RUBY)
      require "holdfast"
      p [defined?(::ActiveJob).nil?, defined?(::ActiveJob::Base).nil?]
      Holdfast.configure { |c| c.store = Holdfast::Store.memory }
      continuable = Holdfast::Continuable # loads Active Job
      job_class = Class.new(ActiveJob::Base) do
        include continuable
        def perform = step(:only) { |_step| $done = :done }
      end
      ActiveJob::Base.logger = Logger.new(nil)
      job_class.new.perform_now
      p $done
    RUBY
    assert status.success?, out
    assert_equal "[true, true]\n:done\n", out
  end
end

class ForkTest < ContinuationTestCase
  test "a forked child opens its own store and never touches the parent's" do
    Dir.mktmpdir do |dir|
      Holdfast.configure { |c| c.store = File.join(dir, "fork.sqlite3") }
      parent_store = Holdfast.continuation_store
      reader, writer = IO.pipe
      pid = fork do
        reader.close
        child_store = Holdfast.continuation_store
        writer.puts(child_store.equal?(parent_store) ? "shared" : "own")
        writer.close
        exit!(0)
      end
      writer.close
      assert_equal "own", reader.read.chomp
      Process.wait(pid)
      assert Holdfast.continuation_store.equal?(parent_store)
      parent_store.close
    end
  end
end
