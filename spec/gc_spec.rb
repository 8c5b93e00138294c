# frozen_string_literal: true

require "tmpdir"

# Ruby values the native side holds (callbacks, conditions, hooks and their
# states, active executions and their threads or fibers, the lock behind an
# interlock's executor hook) must be marked, and must survive compaction.
# bin/matrix runs these under GC.stress (GC_STRESS=1) in one lane per Ruby:
# with a mark function emptied, they crash or fail there. Compaction runs
# with live executors, locks and stores on every run.
RSpec.describe "Ruby values held by Holdfast's native side", :gc_stress do
  # A full collection, then a few allocations to reuse freed slots (under
  # GC.stress each of them collects again).
  def churn
    GC.start(full_mark: true, immediate_sweep: true)
    Array.new(GC.stress ? 3 : 2000) { Object.new }
  end

  def compact
    if GC.respond_to?(:verify_compaction_references)
      GC.verify_compaction_references(double_heap: true, toward: :empty)
    elsif GC.respond_to?(:compact)
      GC.compact
    end
  end

  def executor_with_every_kind_of_callback(log)
    executor = Class.new(Holdfast::Executor)
    executor.define_method(:named_run) { log << :named }
    target = Object.new
    target.define_singleton_method(:before) { |_execution| log << :object }
    hook = Object.new
    hook.define_singleton_method(:run) { "state-#{rand(1000)}" }
    hook.define_singleton_method(:complete) { |state| log << state[0, 6] }
    executor.to_run { @note = +"note" }
    executor.to_run(:named_run)
    executor.to_run(target)
    executor.to_run(if: -> { true }) { log << :conditional }
    executor.to_complete(unless: proc { false }) { log << @note }
    executor.register_hook(hook)
    executor.register_hook(hook, outer: true)
    executor
  end

  it "keeps every kind of callback, condition, hook and hook state alive" do
    log = []
    executor = executor_with_every_kind_of_callback(log)
    churn
    executor.wrap { churn }
    expect(log).to eq([:named, :object, :conditional, "note", "state-", "state-"])
  end

  it "keeps active executions and their contexts alive on other threads and fibers" do
    log = Queue.new
    executor = Class.new(Holdfast::Executor)
    executor.to_complete { log << :complete }
    threads = Array.new(3) { Thread.new { executor.wrap { churn; Fiber.new { executor.active? }.resume } } }
    expect(threads.map { |t| t.join(30)&.value }).to eq([true, true, true])
    expect(Array.new(3) { log.pop }).to eq(%i[complete complete complete])
  end

  it "keeps the lock behind an interlock's executor hook alive" do
    executor = Class.new(Holdfast::Executor)
    executor.register_hook(Holdfast::Interlock.new.executor_hook, outer: true)
    churn
    expect(executor.wrap { churn; :ran }).to eq(:ran)
  end

  it "survives compaction with live executors, share locks, interlocks and stores" do
    log = []
    executor = executor_with_every_kind_of_callback(log)
    locks = Array.new(40) { Holdfast::ShareLock.new }
    interlock = Holdfast::Interlock.new
    executor.register_hook(interlock.executor_hook)
    Dir.mktmpdir do |dir|
      stores = [Holdfast::Store.memory, Holdfast::Store.sqlite(File.join(dir, "gc.sqlite3"))]
      execution = stores.last.begin_execution("gc-job", "GcJob")
      running = executor.run!
      compact
      locks.each { |lock| lock.sharing { nil } }
      execution.checkpoint(completed: ["a"], current: ["b", "[1]"])
      running.complete!
      compact
      expect(stores.last.get("gc-job")["completed"]).to eq(["a"])
      expect(Holdfast::ShareLock.new.snapshot).to eq([])
      stores.each(&:close)
    end
    expect(log.count(:named)).to eq(1)
  end
end
