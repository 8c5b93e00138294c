# frozen_string_literal: true

# Written against ActiveSupport::Executor's API and run against both
# ActiveSupport::Executor and Holdfast::Executor: same calls, same results.
RSpec.shared_examples "an ActiveSupport-compatible executor" do |base|
  let(:executor) { Class.new(base) }
  let(:called) { [] }

  it "runs run callbacks, the block and complete callbacks in order, sharing instance state" do
    log = called
    executor.to_run { log << :run; @shared = :from_run }
    executor.to_complete { log << [:complete, @shared] }
    expect(executor.wrap { log << :body; :result }).to eq(:result)
    expect(called).to eq([:run, :body, [:complete, :from_run]])
  end

  it "calls method-name callbacks on the execution, private ones included" do
    log = called
    executor.class_eval do
      private define_method(:setup_it) { log << :method_run }
      define_method(:teardown_it) { log << :method_complete }
    end
    executor.to_run :setup_it
    executor.to_complete :teardown_it
    executor.wrap { log << :body }
    expect(called).to eq(%i[method_run body method_complete])
  end

  it "calls before/after on callback objects with the execution" do
    log = called
    object = Object.new
    object.define_singleton_method(:before) { |execution| log << [:before, execution.class] }
    object.define_singleton_method(:after) { |execution| log << [:after, execution.class] }
    executor.to_run object
    executor.to_complete :after, object
    executor.wrap {}
    expect(called).to eq([[:before, executor], [:after, executor]])
  end

  it "runs :after callbacks after the before callbacks, last registered first, and honours prepend" do
    log = called
    executor.to_run(:after) { log << :after1 }
    executor.to_run { log << :before1 }
    executor.to_run(:after) { log << :after2 }
    executor.to_run(prepend: true) { log << :first }
    executor.wrap {}
    expect(called).to eq(%i[first before1 after2 after1])
  end

  it "honours if: and unless: with symbols and procs" do
    log = called
    executor.class_eval do
      define_method(:yes) { true }
      define_method(:no) { false }
    end
    executor.to_run(if: :yes) { log << :if_yes }
    executor.to_run(if: :no) { log << :if_no }
    executor.to_run(unless: :no) { log << :unless_no }
    executor.to_run(if: -> { yes }, unless: [:no]) { log << :combined }
    executor.to_run(if: ->(execution) { execution.no }) { log << :proc_with_arg }
    executor.wrap {}
    expect(called).to eq(%i[if_yes unless_no combined])
  end

  it "passes the execution to one-argument blocks" do
    seen = []
    executor.to_run { |execution| seen << execution }
    executor.wrap {}
    expect(seen.first).to be_a(executor)
  end

  it "halts the rest of the run chain when a before callback throws :abort" do
    log = called
    executor.to_run { log << :one; throw :abort }
    executor.to_run { log << :skipped }
    executor.to_complete { log << :complete }
    executor.wrap { log << :body }
    expect(called).to eq(%i[one body complete])
  end

  it "unwinds a failing run callback: later run callbacks are skipped, complete callbacks run" do
    log = called
    executor.to_run { log << :run_1 }
    executor.to_run { raise ArgumentError, "boom" }
    executor.to_run { log << :run_2 }
    executor.to_complete { log << :complete }
    expect { executor.wrap { log << :body } }.to raise_error(ArgumentError, "boom")
    expect(called).to eq(%i[run_1 complete])
    expect(executor.active?).to be(false)
  end

  it "completes and re-raises when the block raises" do
    log = called
    executor.to_complete { log << :complete }
    expect { executor.wrap { raise KeyError, "inside" } }.to raise_error(KeyError, "inside")
    expect(called).to eq([:complete])
    expect(executor.active?).to be(false)
  end

  it "hands each hook's run result to its complete, outer hooks outermost" do
    log = called
    hook = Struct.new(:letter) do
      define_method(:run) { log << :"run_#{letter}"; :"state_#{letter}" }
      define_method(:complete) { |state| log << :"complete_#{letter}_#{state}" }
    end
    executor.register_hook(hook.new(:a))
    executor.register_hook(hook.new(:b), outer: true)
    executor.register_hook(hook.new(:c))
    executor.wrap {}
    expect(called).to eq(%i[run_b run_a run_c complete_a_state_a complete_c_state_c complete_b_state_b])
  end

  it "does not complete a hook whose run never happened" do
    log = called
    hook = Object.new
    hook.define_singleton_method(:run) { log << :hook_run; :state }
    hook.define_singleton_method(:complete) { |state| log << [:hook_complete, state] }
    executor.to_run { raise "early" }
    executor.register_hook(hook)
    executor.to_complete { log << :complete }
    expect { executor.wrap {} }.to raise_error(RuntimeError, "early")
    expect(called).to eq([:complete])
  end

  it "does not wrap twice on one thread, and reports active? per thread" do
    log = called
    executor.to_run { log << :run }
    executor.to_complete { log << :complete }
    other_thread_saw = nil
    executor.wrap do
      executor.wrap { log << :inner }
      other_thread_saw = Thread.new { executor.active? }.value
      log << executor.active?
    end
    expect(called).to eq([:run, :inner, true, :complete])
    expect(other_thread_saw).to be_falsey # false before Active Support 8.1, nil from it
  end

  it "returns the null execution from run! while active" do
    outer = executor.run!
    inner = executor.run!
    expect(inner).not_to be_a(executor)
    expect(inner.complete!).to be_nil
    expect(executor.active?).to be(true)
    outer.complete!
    expect(executor.active?).to be(false)
  end

  it "lets separate executor classes nest" do
    log = called
    other = Class.new(base)
    executor.to_run { log << :run }
    executor.to_complete { log << :complete }
    other.to_run { log << :other_run }
    other.to_complete { log << :other_complete }
    executor.wrap { other.wrap { log << :body } }
    expect(called).to eq(%i[run other_run body other_complete complete])
  end

  it "gives subclasses their parent's callbacks, including ones added later" do
    log = called
    executor.to_run { log << :early }
    child = Class.new(executor)
    executor.to_run { log << :late }
    child.to_run { log << :child_only }
    child.wrap {}
    executor.wrap {}
    expect(called).to eq(%i[early late child_only early late])
  end

  it "keeps executions on different threads independent (latched)" do
    inside = Queue.new
    release = Queue.new
    worker = Thread.new do
      executor.wrap do
        inside << executor.active?
        pop_within(release)
      end
    end
    expect(pop_within(inside)).to be(true)
    expect(executor.active?).to be(false)
    executor.wrap { expect(executor.active?).to be(true) }
    release << :go
    join_within(worker)
  end
end

RSpec.describe "executor compatibility" do
  describe ActiveSupport::Executor do
    include_examples "an ActiveSupport-compatible executor", ActiveSupport::Executor
  end

  describe Holdfast::Executor do
    include_examples "an ActiveSupport-compatible executor", Holdfast::Executor
  end
end
