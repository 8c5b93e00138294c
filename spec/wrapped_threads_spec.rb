# frozen_string_literal: true

RSpec.describe "wrapped threads and pools" do
  let(:executor) { Class.new(Holdfast::Executor) }
  let(:events) { Queue.new }

  before do
    log = events
    executor.to_run { log << [:run, Thread.current] }
    executor.to_complete { log << [:complete, Thread.current] }
  end

  def drain(queue)
    Array.new(queue.size) { queue.pop }
  end

  describe ".thread" do
    it "runs the whole block inside the executor and passes arguments" do
      thread = executor.thread(2, 3) { |a, b| [executor.active?, a * b] }
      join_within(thread)
      expect(thread.value).to eq([true, 6])
      expect(drain(events).map(&:first)).to eq(%i[run complete])
    end

    it "needs a block" do
      expect { executor.thread }.to raise_error(ArgumentError, /needs a block/)
    end
  end

  describe ".pool" do
    let(:pool) { executor.pool(2, name: "spec-pool") }

    after do
      pool.shutdown
      pool.wait_for_termination(Bounded::WAIT)
    end

    it "runs every task in its own execution on a pool thread" do
      seen = Queue.new
      3.times { |i| pool.post(i) { |n| seen << [n, executor.active?, Thread.current.name] } }
      results = Array.new(3) { pop_within(seen) }
      expect(results.map(&:first).sort).to eq([0, 1, 2])
      expect(results.map { |r| r[1] }).to all(be(true))
      expect(results.map { |r| r[2] }).to all(start_with("spec-pool-"))
      pool.shutdown
      expect(pool.wait_for_termination(Bounded::WAIT)).to be(true)
      expect(drain(events).map(&:first).tally).to eq(run: 3, complete: 3)
    end

    it "gives futures the task's value, or raise its error on value" do
      ok = pool.future(20) { |n| n + 1 }
      bad = pool.future { raise KeyError, "lost" }
      expect(ok.value(Bounded::WAIT)).to eq(21)
      expect { bad.value(Bounded::WAIT) }.to raise_error(KeyError, "lost")
      expect(bad).to be_rejected
      expect(ok).to be_fulfilled
    end

    it "reports a failing posted task and keeps the worker alive" do
      reports = Queue.new
      reporter = Object.new
      reporter.define_singleton_method(:report) { |error, **opts| reports << [error.message, opts[:source]] }
      executor.error_reporter.subscribe(reporter)
      pool.post { raise "task failed" }
      # Active Support 7.0's reporter takes no source.
      source = Holdfast::ExecutorMethods::ErrorReporting.takes_source?(executor.error_reporter) ? "holdfast.pool" : nil
      expect(pop_within(reports)).to eq(["task failed", source])
      expect(pool.future { :still_working }.value(Bounded::WAIT)).to eq(:still_working)
    ensure
      executor.error_reporter.unsubscribe(reporter) if executor.error_reporter.respond_to?(:unsubscribe)
    end

    it "finishes queued tasks on shutdown, then refuses new ones" do
      gate = Queue.new
      done = Queue.new
      2.times { pool.post { pop_within(gate); done << :ok } }
      pool.post { done << :queued }
      pool.shutdown
      expect(pool.wait_for_termination(0.05)).to be(false)
      2.times { gate << :go }
      expect(pool.wait_for_termination(Bounded::WAIT)).to be(true)
      expect(drain(done).sort).to eq(%i[ok ok queued])
      expect { pool.post {} }.to raise_error(Holdfast::PoolShutdownError, /shut down/)
    end

    it "rejects a size that is not a positive Integer" do
      expect { executor.pool(0) }.to raise_error(ArgumentError, /positive Integer/)
    end
  end
end
