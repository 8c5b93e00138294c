# frozen_string_literal: true

RSpec.describe Holdfast::Reloader do
  include LockHelpers

  # A reloader with its own executor and interlock, so examples share nothing;
  # the executor holds the interlock's running share, as Rails' development
  # setup registers it.
  def new_reloader(&check)
    interlock = Holdfast::Interlock.new
    executor = Class.new(Holdfast::Executor)
    executor.register_hook(interlock.executor_hook, outer: true)
    Class.new(described_class).tap do |reloader|
      reloader.check = check || -> { true }
      reloader.executor = executor
      reloader.interlock = interlock
    end
  end

  let(:log) { [] }

  it "runs executor, reload and prepare callbacks in Rails' order, and only when check says so", :gc_stress do
    reloader = new_reloader
    calls = log
    reloader.to_prepare { calls << :prepare }
    reloader.to_run { calls << :reloader_run }
    reloader.to_complete { calls << :reloader_complete }
    reloader.executor.to_run { calls << :executor_run }
    reloader.executor.to_complete { calls << :executor_complete }

    reloader.wrap { calls << :body }
    expect(log).to eq(%i[executor_run reloader_run prepare body reloader_complete executor_complete])

    log.clear
    reloader.check = -> { false }
    reloader.wrap { calls << :body }
    expect(log).to eq(%i[executor_run body executor_complete])

    log.clear
    reloader.reload!
    expect(log).to eq(%i[executor_run reloader_run prepare reloader_complete executor_complete prepare])
  end

  it "asks check once until a reload completes" do
    asked = 0
    reloader = new_reloader { (asked += 1) == 1 }
    2.times { expect(reloader.check!).to be(true) }
    expect(asked).to eq(1)
    reloader.wrap {}
    expect(reloader.check!).to be(false)
    expect(asked).to eq(2)
  end

  it "runs the class-unload chain around the block under the unload lock" do
    reloader = new_reloader
    calls = log
    reloader.before_class_unload { calls << :before }
    reloader.after_class_unload { calls << :after_1 }
    reloader.after_class_unload { calls << :after_2 }
    interlock = reloader.interlock
    reloader.to_run do
      class_unload! { calls << [:unload, interlock.lock.raw_state { |s| s[Thread.current][:exclusive] }] }
    end
    reloader.wrap { calls << :body }
    expect(log).to eq([:before, [:unload, true], :after_2, :after_1, :body])
    expect(interlock.lock.raw_state { |s| s[Thread.current] }).to be_nil
  end

  it "waits for every other execution to leave before it unloads, and lets them back in after" do
    reloader = new_reloader
    unloaded = Queue.new
    reloader.to_run { class_unload! { unloaded << :unloaded } }
    inside = Queue.new
    release = Queue.new
    request = Thread.new do
      reloader.executor.wrap { inside << true; pop_within(release) }
    end
    pop_within(inside)

    reloading = Thread.new { reloader.wrap { :reloaded } }
    until_sleeping(reloader.interlock.lock, reloading, :start_exclusive)
    expect(unloaded).to be_empty

    release << true
    expect(join_within(reloading).value).to eq(:reloaded)
    expect(pop_within(unloaded)).to eq(:unloaded)
    join_within(request)
    reloader.check = -> { false }
    expect(Thread.new { reloader.wrap { :after } }.value).to eq(:after)
  end

  it "releases the unload lock when a reload fails" do
    reloader = new_reloader
    reloader.to_run { class_unload! { raise IOError, "unload failed" } }
    expect { reloader.wrap { :never } }.to raise_error(IOError, "unload failed")
    expect(reloader.interlock.lock.raw_state { |s| s[Thread.current] }).to be_nil
    expect(reloader).not_to be_active
    expect(reloader.executor).not_to be_active
  end

  it "puts prepend: true callbacks first" do
    reloader = new_reloader
    i = 10
    reloader.to_prepare { i += 1 }
    reloader.to_prepare(prepend: true) { i = 0 }
    reloader.prepare!
    expect(i).to eq(1)
  end

  it "names the registering method in errors" do
    expect { new_reloader.to_prepare }.to raise_error(ArgumentError, /to_prepare needs a block/)
    expect { new_reloader.after_class_unload("x") }.to raise_error(ArgumentError, /after_class_unload callback/)
  end

  it "inherits executor, check and interlock until a subclass sets its own" do
    parent = new_reloader
    child = Class.new(parent)
    expect([child.executor, child.check, child.interlock]).to eq([parent.executor, parent.check, parent.interlock])
    child.check = -> { false }
    expect(parent.check).not_to eq(child.check)
    expect(described_class.interlock).to be_nil
    expect(described_class.executor).to eq(Holdfast::Executor)
  end
end

RSpec.describe "An executor class with its own run! and complete!" do
  let(:log) { [] }
  let(:executor) do
    calls = log
    Class.new(Holdfast::Executor) do
      define_singleton_method(:run!) do |reset: false|
        calls << :class_run
        super(reset: reset)
      end
      define_method(:run!) do
        calls << :instance_run
        super()
      end
      define_method(:complete!) do
        calls << :instance_complete
        super()
      end
    end
  end

  it "has wrap call them around the core's callbacks" do
    calls = log
    executor.to_run { calls << :callback_run }
    executor.to_complete { calls << :callback_complete }
    expect(executor.wrap { calls << :body; :value }).to eq(:value)
    expect(log).to eq(%i[class_run instance_run callback_run body instance_complete callback_complete])
    expect(executor).not_to be_active
  end

  it "completes through the override when a run callback fails, as Rails' ensure does" do
    executor.to_run { raise IOError, "run failed" }
    expect { executor.wrap { log << :body } }.to raise_error(IOError, "run failed")
    expect(log).to eq(%i[class_run instance_run instance_complete])
    expect(executor).not_to be_active
  end

  it "returns Null from run! inside an execution, and reset: completes the lost one through the override" do
    lost = executor.run!
    expect(executor.run!).to be(Holdfast::ExecutionWrapper::Null)
    fresh = executor.run!(reset: true)
    expect(fresh).not_to be(lost)
    expect(log.count(:instance_complete)).to eq(1)
    fresh.complete!
    expect(executor).not_to be_active
  end

  it "reaches subclasses made before the override was defined" do
    parent = Class.new(Holdfast::Executor)
    child = Class.new(parent)
    calls = log
    parent.define_singleton_method(:run!) do |reset: false|
      calls << :parent_run
      super(reset: reset)
    end
    child.wrap {}
    expect(log).to eq([:parent_run])
  end
end
