# frozen_string_literal: true

RSpec.describe Holdfast::Interlock do
  let(:interlock) { described_class.new }
  let(:lock) { interlock.lock }

  it "lets many threads run at once" do
    inside = Queue.new
    release = Queue.new
    threads = Array.new(3) { Thread.new { interlock.running { inside << true; pop_within(release) } } }
    3.times { pop_within(inside) }
    expect(raw_state_of(lock).values.map { |s| s[:sharing] }).to eq([1, 1, 1])
    3.times { release << true }
    threads.each { |t| join_within(t) }
  end

  it "unloads from inside a request only once no other thread is running, and new requests wait behind it" do
    inside = Queue.new
    release = Queue.new
    log = Queue.new
    request = Thread.new { interlock.running { inside << true; pop_within(release); log << :request_done } }
    pop_within(inside)
    reload = Thread.new { interlock.running { interlock.unloading { log << :unloaded } } }
    until_sleeping(lock, reload, :start_exclusive)
    late = Thread.new { interlock.running { log << :late_request } }
    until_sleeping(lock, late, :start_sharing)
    release << true
    [request, reload, late].each { |t| join_within(t) }
    expect(Array.new(log.size) { log.pop }).to eq(%i[request_done unloaded late_request])
  end

  it "start_unloading / done_unloading and start_running / done_running pair up" do
    expect(interlock.start_running).to eq(1)
    interlock.done_running
    expect(interlock.start_unloading).to be(true)
    expect(raw_state_of(lock).values.first).to include(exclusive: true)
    interlock.done_unloading
    expect(raw_state_of(lock)).to eq({})
  end

  it "lets a load happen while a running thread waits inside permit_concurrent_loads (Rails <= 7)" do
    ready = Queue.new
    loaded = Queue.new
    loader = nil
    interlock.running do
      loader = Thread.new do
        ready << true
        interlock.running { interlock.loading { loaded << :loaded } }
      end
      pop_within(ready)
      interlock.permit_concurrent_loads { expect(pop_within(loaded)).to eq(:loaded) }
    end
    join_within(loader)
  end

  it "keeps loads exclusive among loaders" do
    inside = Queue.new
    release = Queue.new
    first = Thread.new { interlock.loading { inside << true; pop_within(release) } }
    pop_within(inside)
    second = Thread.new { interlock.loading { :second } }
    until_sleeping(lock, second, :start_exclusive)
    release << true
    expect(join_within(second).value).to eq(:second)
    join_within(first)
  end

  describe "#executor_hook" do
    let(:executor) { Class.new(Holdfast::Executor) }

    it "holds the running share for each execution of a Holdfast executor, natively" do
      executor.register_hook(interlock.executor_hook, outer: true)
      seen = executor.wrap { raw_state_of(lock)[Thread.current] }
      expect(seen).to include(sharing: 1)
      expect(raw_state_of(lock)).to eq({})
    end

    it "makes a reload wait for executions on other threads" do
      executor.register_hook(interlock.executor_hook, outer: true)
      inside = Queue.new
      release = Queue.new
      job = executor.thread { inside << true; pop_within(release); :job_done }
      pop_within(inside)
      reload = Thread.new { interlock.unloading { :reloaded } }
      until_sleeping(lock, reload, :start_exclusive)
      release << true
      expect([join_within(job).value, join_within(reload).value]).to eq(%i[job_done reloaded])
    end

    it "works as a plain run/complete hook with ActiveSupport's executor" do
      as_executor = Class.new(ActiveSupport::Executor)
      as_executor.register_hook(interlock.executor_hook, outer: true)
      expect(as_executor.wrap { raw_state_of(lock)[Thread.current][:sharing] }).to eq(1)
      expect(raw_state_of(lock)).to eq({})
    end
  end
end
