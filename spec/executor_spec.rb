# frozen_string_literal: true

RSpec.describe Holdfast::Executor do
  let(:executor) { Class.new(described_class) }
  let(:reports) { [] }
  let(:subscriber) do
    log = reports
    Object.new.tap do |s|
      s.define_singleton_method(:report) { |error, **options| log << [error, options] }
    end
  end

  around do |example|
    previous = Holdfast.error_reporter
    Holdfast.error_reporter = Holdfast::ErrorReporter.new
    example.run
  ensure
    Holdfast.error_reporter = previous
  end

  describe ".wrap(source:)" do
    let(:other) { Class.new(described_class) }
    # The reporter this Active Support gives executors: Rails.error from 7.1,
    # one per executor class on 7.0 (outside a Rails app), Holdfast's on 6.1.
    let(:reporters) { [executor.error_reporter, other.error_reporter].uniq }

    before { reporters.each { |reporter| reporter.subscribe(subscriber) } }
    # Active Support 7.0's reporter has no unsubscribe; its reporters are the
    # throwaway classes' own there.
    after { reporters.each { |reporter| reporter.unsubscribe(subscriber) if reporter.respond_to?(:unsubscribe) } }

    it "reports an error from the block once, unhandled, with the default source, then re-raises" do
      log = []
      executor.to_complete { log << :complete }
      error = RuntimeError.new("boom")
      expect { executor.wrap { raise error } }.to raise_error(error)
      expect(reports.size).to eq(1)
      reported, options = reports.first
      expect(reported).to be(error)
      expect(options).to include(handled: false, severity: :error)
      expect(options[:source]).to eq("application.active_support") if source_reported?
      expect(log).to eq([:complete])
    end

    it "uses the given source" do
      expect { executor.wrap(source: "job.runner") { raise "x" } }.to raise_error(RuntimeError)
      expect(reports.size).to eq(1)
      expect(reports.first.last[:source]).to eq("job.runner") if source_reported?
    end

    it "reports once through nested executors" do
      expect { executor.wrap { other.wrap { raise "nested" } } }.to raise_error(RuntimeError, "nested")
      expect(reports.size).to eq(1)
    end

    # Rails 7.2+ (and so Rails 8.1's API) rescues Exception in wrap.
    it "reports exceptions a bare rescue would not catch, then re-raises them" do
      error = Class.new(Exception).new("not a StandardError") # rubocop:disable Lint/InheritException
      expect { executor.wrap { raise error } }.to raise_error(error)
      expect(reports.map(&:first)).to eq([error])
      expect(reports.first.last).to include(handled: false)
      expect(executor.active?).to be(false)
    end

    it "reports nothing for Thread#kill, which is not an exception" do
      entered = Queue.new
      thread = Thread.new { executor.wrap { entered << true; sleep } }
      pop_within(entered)
      thread.kill
      join_within(thread)
      expect(reports).to be_empty
    end

    it "rejects unknown keywords and positional arguments" do
      expect { executor.wrap(sauce: "x") {} }.to raise_error(ArgumentError, "unknown keyword: :sauce")
      expect { executor.wrap("x") {} }.to raise_error(ArgumentError, /wrong number of arguments/)
    end

    it "uses ActiveSupport's error reporter when ActiveSupport has one" do
      fake = Module.new { def self.error_reporter = :active_support_reporter }
      stub_const("ActiveSupport", fake)
      stub_const("ActiveSupport::ErrorReporter", Class.new)
      expect(executor.error_reporter).to eq(:active_support_reporter)
    end

    it "gives each executor class its own reporter while Active Support 7.0 has no global one" do
      fake = Module.new { def self.error_reporter = nil }
      stub_const("ActiveSupport", fake)
      stub_const("ActiveSupport::ErrorReporter", Class.new)
      first, second = Array.new(2) { Class.new(described_class) }
      expect(first.error_reporter).to be_a(ActiveSupport::ErrorReporter)
      expect(first.error_reporter).to be(first.error_reporter)
      expect(second.error_reporter).not_to be(first.error_reporter)
    end

    it "falls back to Holdfast's reporter where Active Support has none (6.1)" do
      stub_const("ActiveSupport", Module.new)
      expect(executor.error_reporter).to be(Holdfast.error_reporter)
    end

    it "leaves out source: for a reporter whose report does not take it (Active Support 7.0's)" do
      seen = []
      reporter = Object.new
      reporter.define_singleton_method(:report) { |error, handled:, severity: :error, context: {}| seen << [error.message, handled] }
      executor.define_singleton_method(:error_reporter) { reporter }
      expect { executor.wrap(source: "x") { raise "old reporter" } }.to raise_error(RuntimeError)
      expect(seen).to eq([["old reporter", false]])
    end

    def source_reported?
      Holdfast::ExecutorMethods::ErrorReporting.takes_source?(executor.error_reporter)
    end
  end

  describe ".run! and #complete!" do
    it "raises AlreadyCompletedError when complete! is called twice" do
      execution = executor.run!
      execution.complete!
      expect { execution.complete! }
        .to raise_error(Holdfast::AlreadyCompletedError, /exactly once for each run!/)
    end

    it "with reset: true completes the lost execution first" do
      log = []
      executor.to_run { log << [:run, object_id] }
      executor.to_complete { log << [:complete, object_id] }
      lost = executor.run!
      fresh = executor.run!(reset: true)
      expect(log.map(&:first)).to eq(%i[run complete run])
      expect(log[0][1]).to eq(lost.object_id)
      expect { lost.complete! }.to raise_error(Holdfast::AlreadyCompletedError)
      expect(executor.active?).to be(true)
      fresh.complete!
      expect(executor.active?).to be(false)
    end

    it "completes an execution from another thread" do
      execution = executor.run!
      Thread.new { execution.complete! }.join
      expect(executor.active?).to be(false)
    end
  end

  describe ".perform" do
    it "runs the callbacks around the block without becoming active" do
      log = []
      executor.to_run { log << :run }
      executor.to_complete { log << :complete }
      executor.perform { log << executor.active? }
      expect(log).to eq([:run, false, :complete])
    end
  end

  describe "registration errors" do
    it "refuses :around callbacks" do
      expect { executor.to_run(:around) { |_, b| b.call } }.to raise_error(ArgumentError, /do not support :around/)
    end

    it "refuses unknown options instead of ignoring them" do
      expect { executor.to_run(if: :x, when: :y) {} }.to raise_error(ArgumentError, /Unknown callback option :when/)
    end

    it "refuses strings, two-argument blocks and objects without the callback method" do
      expect { executor.to_run("code") }.to raise_error(ArgumentError, /string/)
      expect { executor.to_run { |_a, _b| nil } }.to raise_error(ArgumentError, /at most one argument/)
      expect { executor.to_complete(:after, Object.new) }.to raise_error(ArgumentError, /does not respond to #after/)
      expect { executor.to_run }.to raise_error(ArgumentError, /needs a block/)
    end

    it "refuses hooks without run and complete" do
      expect { executor.register_hook(Object.new) }.to raise_error(ArgumentError, /#run and #complete/)
    end

    it "accepts set_callback for the run and complete chains only" do
      log = []
      executor.set_callback(:run) { log << :run }
      executor.wrap {}
      expect(log).to eq([:run])
      expect { executor.set_callback(:save) {} }.to raise_error(ArgumentError, /No callback chain named :save/)
    end
  end

  describe "leaving a wrap abnormally" do
    it "completes when the thread is killed inside the block" do
      log = []
      executor.to_complete { log << :complete }
      inside = Queue.new
      thread = Thread.new { executor.wrap { inside << true; sleep } }
      pop_within(inside)
      thread.kill
      join_within(thread)
      expect(log).to eq([:complete])
      active_elsewhere = executor.instance_variable_get(:@__holdfast_core)
      expect(active_elsewhere).to be_a(Holdfast::Native::ExecutorCore)
    end

    it "completes on break and throw" do
      log = []
      executor.to_complete { log << :complete }
      expect(executor.wrap { break :broke }).to eq(:broke)
      expect(catch(:out) { executor.wrap { throw :out, :thrown } }).to eq(:thrown)
      expect(log).to eq(%i[complete complete])
      expect(executor.active?).to be(false)
    end

    it "raises an error raised by a complete callback, after the block's own error" do
      executor.to_complete { raise "from complete" }
      expect { executor.wrap { raise "from block" } }.to raise_error(RuntimeError, "from complete")
      expect(executor.active?).to be(false)
    end
  end

  describe "isolation level" do
    after { Holdfast::IsolatedExecutionState.isolation_level = :thread }

    it "keys active state by fiber when set to :fiber" do
      Holdfast::IsolatedExecutionState.isolation_level = :fiber
      executor.wrap do
        expect(Fiber.new { executor.active? }.resume).to be(false)
        expect(executor.active?).to be(true)
      end
    end

    it "keys active state by thread by default, shared across fibers" do
      expect(Holdfast::IsolatedExecutionState.isolation_level).to eq(:thread)
      executor.wrap { expect(Fiber.new { executor.active? }.resume).to be(true) }
    end

    it "rejects unknown levels naming the allowed ones" do
      expect { Holdfast::IsolatedExecutionState.isolation_level = :process }
        .to raise_error(ArgumentError, /must be :thread or :fiber, got :process/)
    end
  end

  describe "garbage collection" do
    it "keeps callbacks, hooks and hook state alive across GC.compact" do
      log = []
      hook = Class.new do
        define_method(:run) { Object.new.tap { |o| o.instance_variable_set(:@tag, "state-#{rand}") } }
        define_method(:complete) { |state| log << state.instance_variable_get(:@tag).start_with?("state-") }
      end
      executor.register_hook(hook.new)
      executor.to_run { @note = "x" * 10 }
      executor.to_complete { log << @note.size }
      execution = executor.run!
      GC.start(full_mark: true, immediate_sweep: true)
      GC.compact if GC.respond_to?(:compact)
      4.times { Array.new(1000) { Object.new } }
      execution.complete!
      expect(log).to eq([true, 10])
    end

    it "keeps a perform's execution alive while its block runs", :gc_stress do
      log = []
      executor.to_run { @note = "x" * 10 }
      executor.to_complete { log << @note&.size }
      executor.perform do
        GC.start(full_mark: true, immediate_sweep: true)
        Array.new(GC.stress ? 3 : 4000) { Object.new }
      end
      expect(log).to eq([10])
    end
  end
end
