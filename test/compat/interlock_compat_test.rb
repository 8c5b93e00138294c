# frozen_string_literal: true

# ActiveSupport::Dependencies::Interlock on Holdfast's share lock (backed
# mode), as each Rails version defines it (activesupport/lib/active_support/
# dependencies/interlock.rb): Rails 8.1 made `loading` and
# `permit_concurrent_loads` no-ops (Zeitwerk loads without the interlock),
# earlier versions lock for loads. Unloading waits for every running thread
# on all of them. Threads are driven by queues and the lock's own state, with
# bounded waits.
require_relative "abstract_unit"
require "active_support/dependencies"
require "timeout"

class InterlockCompatTest < ActiveSupport::TestCase
  WAIT = 10
  VERSION = ActiveSupport.gem_version

  def setup
    @interlock = ActiveSupport::Dependencies::Interlock.new
  end

  def loads_need_the_lock?
    VERSION < Gem::Version.new("8.1")
  end

  # Waits until +thread+ sleeps in the lock, in +sleeper+ (:start_exclusive
  # or :start_sharing).
  def until_waiting(thread, sleeper)
    Timeout.timeout(WAIT) do
      Thread.pass until @interlock.raw_state { |threads| threads[thread]&.fetch(:sleeper, nil) } == sleeper &&
                        thread.status == "sleep"
    end
  end

  # 8.1 deprecates Interlock#loading (a warning per call).
  def silencing_deprecations(&block)
    return yield unless ActiveSupport.respond_to?(:deprecator)

    ActiveSupport.deprecator.silence(&block)
  end

  def in_thread(&block)
    Thread.new do
      Thread.current.report_on_exception = false
      block.call
    end
  end

  test "loading while another thread runs: waits for it before 8.1, goes straight in from 8.1" do
    running = Queue.new
    release = Queue.new
    runner = in_thread { @interlock.running { running << true; release.pop } }
    Timeout.timeout(WAIT) { running.pop }
    loaded = Queue.new
    loader = in_thread { silencing_deprecations { @interlock.loading { loaded << :loaded } } }
    if loads_need_the_lock?
      until_waiting(loader, :start_exclusive)
      assert loaded.empty?
      release << true
      assert_equal :loaded, Timeout.timeout(WAIT) { loaded.pop }
    else
      assert_equal :loaded, Timeout.timeout(WAIT) { loaded.pop }
      release << true
    end
    [runner, loader].each { |t| assert t.join(WAIT) }
  end

  test "permit_concurrent_loads lets a loader in while the running thread waits in it" do
    inside = Queue.new
    release = Queue.new
    runner = in_thread { @interlock.running { @interlock.permit_concurrent_loads { inside << true; release.pop } } }
    Timeout.timeout(WAIT) { inside.pop }
    loaded = Queue.new
    loader = in_thread { silencing_deprecations { @interlock.loading { loaded << :loaded } } }
    assert_equal :loaded, Timeout.timeout(WAIT) { loaded.pop }
    release << true
    [runner, loader].each { |t| assert t.join(WAIT) }
  end

  test "unloading waits until no thread is running, and running threads wait for an unload" do
    running = Queue.new
    release = Queue.new
    runner = in_thread { @interlock.running { running << true; release.pop } }
    Timeout.timeout(WAIT) { running.pop }
    unloaded = Queue.new
    unloader = in_thread { @interlock.unloading { unloaded << :unloaded; release.pop } }
    until_waiting(unloader, :start_exclusive)
    assert unloaded.empty?
    release << true
    assert_equal :unloaded, Timeout.timeout(WAIT) { unloaded.pop }
    late = Queue.new
    late_runner = in_thread { @interlock.running { late << :ran } }
    until_waiting(late_runner, :start_sharing)
    assert late.empty?
    release << true
    assert_equal :ran, Timeout.timeout(WAIT) { late.pop }
    [runner, unloader, late_runner].each { |t| assert t.join(WAIT) }
  end
end
