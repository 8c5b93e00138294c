# frozen_string_literal: true

require "json"
require "logger"
require "stringio"

RSpec.describe Holdfast::ShareLock do
  let(:lock) { described_class.new(name: "spec lock") }

  it "follows Rails' return values" do
    expect(lock.start_sharing).to eq(1)
    expect(lock.start_sharing).to eq(2)
    lock.stop_sharing
    lock.stop_sharing
    expect(lock.start_exclusive).to be(true)
    lock.stop_exclusive
    expect(lock.exclusive { :value }).to eq(:value)
    expect(lock.sharing { :shared }).to eq(:shared)
    expect(lock.yield_shares { :yielded }).to eq(:yielded)
    expect(lock.raw_state { |data| data }).to eq({})
  end

  it "describes each owner with the keys, in the order, of the loaded Active Support's ShareLock" do
    require "active_support/concurrency/share_lock"
    theirs = ActiveSupport::Concurrency::ShareLock.new
    shapes = [theirs, lock].map do |subject|
      subject.sharing { subject.raw_state { |data| data.fetch(Thread.current).keys } }
    end
    expect(shapes.last).to eq(shapes.first)
    # Rails 8.2 names the owner :owner (an execution context), earlier :thread.
    expect(shapes.last.first).to eq(ActiveSupport.gem_version >= Gem::Version.new("8.2.0.alpha") ? :owner : :thread)
  end

  it "returns nil from exclusive(no_wait: true) without running the block when busy" do
    lock.sharing do
      ran = false
      other = Thread.new { lock.exclusive(no_wait: true) { ran = true } }
      expect(other.value).to be_nil
      expect(ran).to be(false)
    end
  end

  it "raises Rails' error for an invalid unlock and ArgumentError for bad options" do
    expect { lock.stop_exclusive }.to raise_error(RuntimeError, "invalid unlock")
    expect { lock.start_exclusive(purpose: "load") }.to raise_error(ArgumentError, /purpose must be a Symbol/)
    expect { lock.start_exclusive(compatible: :load) }.to raise_error(ArgumentError, /compatible must be an Array/)
    expect { lock.start_exclusive(wait: 1) }.to raise_error(ArgumentError, /unknown keyword: :wait/)
    expect { lock.sharing(wait: 1) {} }.to raise_error(ArgumentError, "unknown keyword: :wait")
    [-1, Float::NAN, Float::INFINITY, 1e19, 1e20].each do |bad|
      expect { lock.start_sharing(timeout: bad) }
        .to raise_error(ArgumentError, /\Atimeout must be a number of seconds from 0 to 315360000, got .*\(or nil to wait forever\)\z/)
      expect { lock.exclusive(timeout: bad) {} }.to raise_error(ArgumentError, /\Atimeout must be/)
    end
    expect(lock.exclusive(timeout: 315_360_000) { :ran }).to eq(:ran)
  end

  describe "timeouts" do
    it "returns false from start_* and raises LockTimeout from block forms, naming the holder" do
      holder, release = hold_share(lock, "long request")
      expect(lock.start_exclusive(timeout: 0.02)).to be(false)
      expect { lock.exclusive(timeout: 0.02) {} }.to raise_error(Holdfast::LockTimeout) { |error|
        expect(error.message).to match(/\Atimed out after 0\.\d\ds waiting for the lock/)
        expect(error.message).to include('thread "long request"', "holds spec lock: a share ×1")
      }
      expect(raw_state_of(lock).keys).to eq([holder])
      release << true
      join_within(holder)
    end
  end

  describe "deadlocks" do
    it "raises instead of hanging when two upgrades refuse each other (Rails' :red/:blue case)" do
      together = Queue.new
      go = Queue.new
      results = Queue.new
      threads = [[:red, %i[green purple]], [:blue, [:green]]].map do |purpose, compatible|
        Thread.new do
          Thread.current.name = "upgrade to #{purpose}"
          lock.sharing do
            together << true
            pop_within(go)
            lock.exclusive(purpose: purpose, compatible: compatible) { results << [purpose, :got_it] }
          rescue Holdfast::DeadlockError => e
            results << [purpose, e]
          end
        end
      end
      2.times { pop_within(together) }
      2.times { go << true }
      outcomes = Array.new(2) { pop_within(results) }
      errors = outcomes.map(&:last).grep(Holdfast::DeadlockError)
      expect(errors.size).to eq(1), "one upgrade raises, the other then gets the lock: #{outcomes.inspect}"
      expect(outcomes.map(&:last)).to include(:got_it)
      expect(errors.first.message).to include('thread "upgrade to red"', 'thread "upgrade to blue"',
                                              "compatible [:green, :purple]", "compatible: ")
      threads.each { |t| join_within(t) }
      expect(raw_state_of(lock)).to eq({})
    end

    it "raises for a thread joining a child while holding a share that a reload is waiting for" do
      interlock = Holdfast::Interlock.new
      reloader = child = nil
      interlock.running do
        reloader = Thread.new do
          Thread.current.name = "reloader"
          interlock.running { interlock.unloading { :reloaded } }
        end
        until_sleeping(interlock.lock, reloader, :start_exclusive)
        child = Thread.new do
          Thread.current.name = "child"
          interlock.running { :child_ran }
        end
        until_sleeping(interlock.lock, child, :start_sharing)
        expect { interlock.lock.waiting_on(child) { child.join } }.to raise_error(Holdfast::DeadlockError) { |error|
          expect(error.message).to include('thread "child"', 'thread "reloader"', "the main thread",
                                           "declared with waiting_on", "permit_concurrent_loads")
        }
      end
      expect(join_within(reloader).value).to eq(:reloaded)
      expect(join_within(child).value).to eq(:child_ran)
    end

    it "waits, as Rails does, on a lock created with detect_deadlocks: false" do
      quiet = described_class.new(detect_deadlocks: false)
      expect(quiet.detect_deadlocks).to be(false)
      expect(described_class.new.detect_deadlocks).to be(true)
    end
  end

  describe "interrupting waits" do
    # Each kind of wait, entered by a fresh thread that then gets interrupted.
    waits = {
      "start_exclusive behind a share" => [:start_exclusive, :share, ->(l) { l.start_exclusive }],
      "an upgrade (start_exclusive with shares yielded)" =>
        [:start_exclusive, :share, ->(l) { l.sharing { l.start_exclusive(purpose: :x, compatible: [:x]) } }],
      "start_sharing behind an exclusive" => [:start_sharing, :exclusive, ->(l) { l.start_sharing }],
      "start_sharing nested in yield_shares" =>
        [:start_sharing, :exclusive_after_yield, ->(l) { l.sharing { l.yield_shares(compatible: [:x]) { l.start_sharing } } }]
    }

    def hold(kind)
      ready = Queue.new
      release = Queue.new
      holder = Thread.new do
        case kind
        when :share then lock.sharing { ready << true; pop_within(release) }
        when :exclusive, :exclusive_after_yield then lock.exclusive(purpose: :x) { ready << true; pop_within(release) }
        end
      end
      pop_within(ready)
      [holder, release]
    end

    waits.each do |description, (sleeper, kind, enter)|
      it "ends #{description} on Thread#kill, Thread#raise and Timeout, 1000 times, leaving the lock clean" do
        holder, release = hold(kind)
        held_state = raw_state_of(lock)
        interrupt_rounds.times do |i|
          case i % 3
          when 0
            waiter = Thread.new { enter.call(lock) }
            until_sleeping(lock, waiter, sleeper)
            waiter.kill
            join_within(waiter)
          when 1
            waiter = Thread.new { enter.call(lock) rescue $! }
            until_sleeping(lock, waiter, sleeper)
            waiter.raise(IOError, "interrupted #{i}")
            expect(waiter.value).to be_a(IOError)
          else
            waiter = Thread.new do
              Timeout.timeout(0.001) { enter.call(lock) }
            rescue Timeout::Error => e
              e
            end
            expect(join_within(waiter).value).to be_a(Timeout::Error).or(eq(nil))
          end
        end
        expect(raw_state_of(lock)).to eq(held_state)
        release << true
        join_within(holder)
        expect(raw_state_of(lock)).to eq({})
        expect(lock.exclusive { :still_usable }).to eq(:still_usable)
      end
    end

    it "ends the wait to get yielded shares back (yield_shares' ensure), 1000 times, giving the shares up" do
      interrupt_rounds.times do |i|
        in_yield = Queue.new
        leave_yield = Queue.new
        waiter = Thread.new do
          lock.sharing do
            lock.yield_shares(compatible: [:x]) { in_yield << true; pop_within(leave_yield) }
            :restored
          end
        rescue IOError, Timeout::Error => e
          e
        end
        pop_within(in_yield)
        lock.start_exclusive(purpose: :x) # allowed in: the waiter yielded to :x
        leave_yield << true
        until_sleeping(lock, waiter, :yield_shares)
        interrupt(waiter, i)
        outcome = join_within(waiter).value
        expect(outcome).to be_a(IOError).or(be_a(Timeout::Error)).or(be_nil)
        lock.stop_exclusive
        expect(raw_state_of(lock)).to eq({}), "round #{i}: #{raw_state_of(lock).inspect}"
      end
      expect(lock.exclusive { lock.sharing { :still_usable } }).to eq(:still_usable)
    end

    it "ends stop_exclusive's wait for eligible waiters, 1000 times; the release itself stands" do
      interrupt_rounds.times do |i|
        yielded, go, inside, done, holding, release = Array.new(6) { Queue.new }
        # Yielded to :x, it lets the releaser in, then asks for the lock itself:
        # an eligible waiter when the releaser lets go.
        upgrader = Thread.new do
          lock.sharing do
            lock.yield_shares(purpose: :x, compatible: [:x]) do
              yielded << true
              pop_within(go)
              lock.exclusive(purpose: :x, compatible: [:x]) { inside << true; pop_within(done) }
            end
          end
        end
        pop_within(yielded)
        releaser = Thread.new do
          lock.start_exclusive(purpose: :x)
          holding << true
          pop_within(release)
          lock.stop_exclusive(compatible: [:x])
        rescue IOError, Timeout::Error => e
          e
        end
        pop_within(holding)
        go << true
        until_sleeping(lock, upgrader, :start_exclusive)
        release << true
        pop_within(inside)
        until_sleeping(lock, releaser, :stop_exclusive)
        interrupt(releaser, i)
        # As in Rails, the interrupted releaser's ensure still waits for the
        # exclusive holder to leave before it finishes.
        expect(raw_state_of(lock)[upgrader]).to include(exclusive: true)
        done << true
        [releaser, upgrader].each { |t| join_within(t) }
        expect(raw_state_of(lock)).to eq({}), "round #{i}"
      end
    end

    it "ends a wait on Ctrl-C in the main thread of another process" do
      script = <<~RUBY
        $LOAD_PATH.unshift(#{File.expand_path("../lib", __dir__).inspect})
        require "holdfast"
        lock = Holdfast::ShareLock.new
        ready = Queue.new
        Thread.new { lock.sharing { ready << true; sleep } }
        ready.pop
        $stdout.puts "waiting"; $stdout.flush
        begin
          lock.start_exclusive
        rescue Interrupt
          state = lock.raw_state { |d| d.values.map { |v| v[:sleeper] } }
          $stdout.puts "interrupted, sleepers: \#{state.inspect}"
        end
      RUBY
      IO.popen([RbConfig.ruby, "-e", script], err: %i[child out]) do |io|
        expect(io.gets).to eq("waiting\n")
        until_child_sleeps = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 0.2
        Thread.pass while Process.clock_gettime(Process::CLOCK_MONOTONIC) < until_child_sleeps
        Process.kill("INT", io.pid)
        expect(Timeout.timeout(Bounded::WAIT) { io.read }).to eq("interrupted, sleepers: [nil]\n")
      end
    end
  end

  describe "owners" do
    after { Holdfast::IsolatedExecutionState.isolation_level = :thread }

    it "are fibers under :fiber isolation" do
      Holdfast::IsolatedExecutionState.isolation_level = :fiber
      lock.start_exclusive
      other = Fiber.new { lock.start_sharing(timeout: 0.01) }.resume
      expect(other).to be(false)
      lock.stop_exclusive
      expect(Fiber.new { lock.sharing { :fiber_share } }.resume).to eq(:fiber_share)
    end
  end

  describe "timeouts" do
    def elapsed
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      result = yield
      [result, Process.clock_gettime(Process::CLOCK_MONOTONIC) - started]
    end

    it "return within the timeout plus 50 ms when the holder never releases" do
      holder = Thread.new { lock.start_exclusive; sleep }
      Timeout.timeout(Bounded::WAIT) { Thread.pass until lock.snapshot.any? { |s| s["exclusive"] } }
      result, took = elapsed { lock.start_exclusive(timeout: 0.1) }
      expect(result).to be(false)
      expect(took).to be_between(0.1, 0.15)
    ensure
      holder&.kill
      join_within(holder) if holder
    end

    # The upgrader yields its share to :load; the holder gets in through it
    # (and another thread's yield) and stays. Its share cannot be given back
    # under the holder's lock, so it is given up, and the timeout holds.
    it "bound an upgrade whose yielded share cannot be given back in time" do
      yielding = Queue.new
      release = Queue.new
      other = Thread.new { lock.sharing { lock.yield_shares(compatible: [:load]) { yielding << true; pop_within(release) } } }
      pop_within(yielding)
      lock.start_sharing
      holder = Thread.new do
        lock.start_exclusive(purpose: :load)
        begin
          sleep
        ensure
          lock.stop_exclusive
        end
      end
      until_sleeping(lock, holder, :start_exclusive)
      result, took = elapsed { lock.start_exclusive(purpose: :unload, compatible: [:load], timeout: 0.1) }
      expect(result).to be(false)
      expect(took).to be_between(0.1, 0.15)
      expect(lock.raw_state { |data| data[holder] }).to include(exclusive: true)
      expect(lock.raw_state { |data| data[Thread.current]&.fetch(:sharing, 0) }.to_i).to eq(0)
    ensure
      holder&.kill
      join_within(holder) if holder
      release << true
      join_within(other) if other
    end
  end

  describe "#snapshot" do
    it "is plain data with thread names and wait times, and works while the lock is busy" do
      holder, release = hold_share(lock, "holder")
      waiter = Thread.new { Thread.current.name = "waiter"; lock.exclusive {} }
      until_sleeping(lock, waiter, :start_exclusive)
      snapshot = lock.snapshot
      expect(JSON.parse(snapshot.to_json)).to eq(snapshot)
      # The core's one shape (C's holdfast_share_lock_snapshot_json gives the same keys).
      expect(snapshot.map(&:keys).uniq.map(&:sort))
        .to eq([%w[compatible context exclusive exclusive_purpose name purpose sharing sleeper waited_seconds waiting]])
      expect(snapshot.map { |s| s["context"] }).to all(be_an(Integer))
      by_name = snapshot.to_h { |s| [s["name"][/"(\w+)"/, 1], s] }
      expect(by_name["holder"]).to include("sharing" => 1, "exclusive" => false, "sleeper" => nil)
      expect(by_name["waiter"]).to include("sleeper" => "start_exclusive", "sharing" => 0)
      expect(by_name["waiter"]["waited_seconds"]).to be >= 0
      release << true
      [holder, waiter].each { |t| join_within(t) }
    end
  end
end

RSpec.describe "Holdfast.dump_locks" do
  it "prints who holds and who waits, for every busy lock" do
    lock = Holdfast::ShareLock.new(name: "dump spec lock")
    holder, release = hold_share(lock, "dump holder")
    waiter = Thread.new { Thread.current.name = "dump waiter"; lock.exclusive {} }
    until_sleeping(lock, waiter, :start_exclusive)
    out = StringIO.new
    expect(Holdfast.dump_locks(out)).to be >= 1
    expect(out.string).to include("dump spec lock:", 'thread "dump holder"', "holds share ×1",
                                  'thread "dump waiter"', "sleeping in start_exclusive for")
    release << true
    [holder, waiter].each { |t| join_within(t) }
  end

  it "is bound to a signal by trap_dump, chaining the previous handler" do
    script = <<~RUBY
      $LOAD_PATH.unshift(#{File.expand_path("../lib", __dir__).inspect})
      require "holdfast"
      $stderr.reopen($stdout)
      chained = Queue.new
      Signal.trap("USR2") { chained << :previous_handler_ran }
      Holdfast.trap_dump("USR2")
      lock = Holdfast::ShareLock.new(name: "trapped lock")
      lock.start_sharing
      Process.kill("USR2", Process.pid)
      puts chained.pop
    RUBY
    output = IO.popen([RbConfig.ruby, "-e", script], &:read)
    expect(output).to include("trapped lock:", "holds share ×1", "previous_handler_ran")
  end
end

RSpec.describe "Holdfast.lock_wait_threshold" do
  around do |example|
    Holdfast.lock_wait_threshold = 0.02
    example.run
  ensure
    Holdfast.lock_wait_threshold = nil
  end

  let(:lock) { Holdfast::ShareLock.new(name: "slow lock") }

  it "reports a wait once it lasts that long, as an event and a log line, while it keeps waiting" do
    events = Queue.new
    subscription = ActiveSupport::Notifications.subscribe("long_wait.holdfast") do |*, payload|
      events << payload
    end
    logged = StringIO.new
    Holdfast.logger = Logger.new(logged)
    holder, release = hold_share(lock, "slow holder")
    waiter = Thread.new { lock.exclusive { :finally } }
    payload = pop_within(events)
    expect(payload).to include(lock: "slow lock")
    expect(payload[:waited]).to be >= 0.02
    expect(payload[:message]).to include('thread "slow holder"')
    expect(waiter).to be_alive
    release << true
    expect(join_within(waiter).value).to eq(:finally)
    expect(events).to be_empty
    expect(logged.string).to include("Holdfast: waited 0.0", "for slow lock so far")
  ensure
    ActiveSupport::Notifications.unsubscribe(subscription)
    Holdfast.logger = nil
  end

  it "still ends the wait on Thread#kill" do
    lock.start_exclusive
    waiter = Thread.new { lock.sharing {} }
    until_sleeping(lock, waiter, :start_sharing)
    waiter.kill
    join_within(waiter)
    lock.stop_exclusive
    expect(raw_state_of(lock)).to eq({})
  end

  it "rejects a threshold that is not a positive number" do
    [0, -1, Float::NAN, Float::INFINITY, 1e20].each do |bad|
      expect { Holdfast.lock_wait_threshold = bad }
        .to raise_error(ArgumentError, /\Alock_wait_threshold must be a number of seconds above 0 and at most 315360000, got /)
    end
  end
end
