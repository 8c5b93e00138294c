# frozen_string_literal: true

require "tmpdir"

# Thread#kill, Thread#raise and Timeout are never lost inside Holdfast's
# native calls: not while it builds an error (a constant lookup runs a
# pending interrupt), not while it names threads, not in a long-wait report,
# not after store I/O that could not be cut short.
RSpec.describe "interrupts during Holdfast's native calls" do
  let(:deferred_error) { Class.new(StandardError) }

  # Runs the block with asynchronous interrupts deferred, raises
  # +deferred_error+ into this thread (pending), and lets it fire only
  # inside the next call of +method+ on +receiver+ — one that Holdfast's
  # native code makes back into Ruby.
  def with_interrupt_inside(receiver, method, error)
    hook = Module.new do
      define_method(method) do |*args, &block|
        if Thread.current[:holdfast_spec_fire]
          Thread.current[:holdfast_spec_fire] = false
          Thread.handle_interrupt(Object => :immediate) { Thread.pass }
        end
        super(*args, &block)
      end
    end
    receiver.singleton_class.prepend(hook)
    Thread.handle_interrupt(Object => :never) do
      Thread.current.raise(error)
      Thread.current[:holdfast_spec_fire] = true
      yield
    end
  ensure
    Thread.current[:holdfast_spec_fire] = false
    hook.instance_methods(false).each { |m| hook.send(:remove_method, m) } if hook
  end

  it "a store error's class lookup does not swallow a pending Thread#raise" do
    store = Holdfast::Store.memory
    old = store.begin_execution("interrupt-job", "Job")
    store.begin_execution("interrupt-job", "Job") # old is stale now
    error = deferred_error.new("raised into the thread")
    expect do
      with_interrupt_inside(Holdfast, :const_get, error) { old.checkpoint(current: ["s", "1"]) }
    end.to raise_error(error)
  end

  # Ruby gives an unblocking function a helper thread when only one Ruby
  # thread lives; that thread inherits the handle_interrupt mask and can then
  # never be killed, so the call hung (seen on CI). A fresh process has one thread.
  it "store I/O completes under Thread.handle_interrupt(Object => :never) as the only Ruby thread" do
    script = <<~RUBY
      execution = Holdfast::Store.memory.begin_execution("masked-job", "Job")
      Thread.handle_interrupt(Object => :never) do
        Thread.current.raise("deferred until the block ends")
        execution.checkpoint(current: ["s", "1"])
        print "checkpointed"
      end
    RUBY
    reader, writer = IO.pipe
    pid = Process.spawn(RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-rholdfast", "-e", script,
                        out: writer, err: writer)
    writer.close
    status = begin
      Timeout.timeout(Bounded::WAIT) { Process.wait2(pid).last }
    rescue Timeout::Error
      Process.kill("KILL", pid)
      Process.wait(pid)
      raise "the masked checkpoint hung"
    end
    output = reader.read
    expect(output).to include("checkpointed")
    expect(output).to include("deferred until the block ends")
    expect(status.success?).to be(false)
  end

  it "a lock timeout's diagnostic does not swallow a pending Thread#raise" do
    lock = Holdfast::ShareLock.new
    holder = Thread.new { lock.start_exclusive; sleep }
    Timeout.timeout(Bounded::WAIT) { Thread.pass until lock.snapshot.any? { |s| s["exclusive"] } }
    error = deferred_error.new("raised during the timeout")
    expect do
      with_interrupt_inside(Thread, :list, error) { lock.exclusive(timeout: 0.01) {} }
    end.to raise_error(error)
  ensure
    holder&.kill
    join_within(holder) if holder
  end

  it "lock.snapshot does not swallow a pending Thread#raise" do
    lock = Holdfast::ShareLock.new
    error = deferred_error.new("raised during the snapshot")
    expect { with_interrupt_inside(Thread, :list, error) { lock.snapshot } }.to raise_error(error)
  end

  # As in Rails' yield_shares ensure, the killed waiter first waits for the
  # holder to leave (to give back what it yielded), then dies.
  it "a waiter killed while its long-wait report runs never takes the lock" do
    previous_threshold = Holdfast.lock_wait_threshold
    previous_logger = Holdfast.logger
    reporting = Queue.new
    release = Queue.new
    logger = Object.new
    reports = 0
    logger.define_singleton_method(:warn) do |_line|
      reports += 1
      next unless reports == 1

      reporting << true
      release.pop
    end
    Holdfast.logger = logger
    Holdfast.lock_wait_threshold = 0.05
    lock = Holdfast::ShareLock.new(name: "reported lock")
    lock.start_exclusive
    ran = Queue.new
    waiter = Thread.new { lock.exclusive { ran << :took_the_lock } }
    pop_within(reporting)
    waiter.kill
    release << true
    Timeout.timeout(Bounded::WAIT) do
      Thread.pass until lock.snapshot.any? { |s| s["sleeper"] == "yield_shares" }
    end
    lock.stop_exclusive
    join_within(waiter)
    expect(waiter.status).to be(false)
    expect(ran).to be_empty
    expect(lock.snapshot).to eq([])
  ensure
    Holdfast.lock_wait_threshold = previous_threshold
    Holdfast.logger = previous_logger
  end

  context "with another process holding the SQLite store's write lock" do
    around do |example|
      Dir.mktmpdir do |dir|
        @path = File.join(dir, "busy.sqlite3")
        @store = Holdfast::Store.sqlite(@path, busy_timeout: 1)
        @execution = @store.begin_execution("busy-job", "Job")
        @locker = IO.popen([RbConfig.ruby, "-rsqlite3", "-e", <<~RUBY, @path], "r+")
          db = SQLite3::Database.new(ARGV[0])
          db.execute("BEGIN IMMEDIATE")
          puts "locked"
          $stdout.flush
          $stdin.gets
          db.execute("COMMIT")
        RUBY
        expect(Timeout.timeout(Bounded::WAIT) { @locker.gets }).to eq("locked\n")
        example.run
      ensure
        @locker&.close
        @store&.close
      end
    end

    # The checkpoint waits in SQLite's busy handler, which cannot be cut
    # short; the interrupt is taken as soon as it returns.
    def blocked_writer(log)
      writer = Thread.new do
        Thread.current.report_on_exception = false
        begin
          @execution.checkpoint(current: ["s", "1"])
        rescue StandardError => e
          log << e
        end
        log << :carried_on
      end
      Timeout.timeout(Bounded::WAIT) { Thread.pass until writer.stop? || !writer.alive? }
      writer
    end

    it "Thread#kill ends the thread when the blocked checkpoint returns" do
      log = Queue.new
      writer = blocked_writer(log)
      writer.kill
      join_within(writer)
      expect(writer.status).to be(false)
      expect(log).to be_empty
    end

    it "Thread#raise gets the raised exception, not the store's error" do
      log = Queue.new
      writer = blocked_writer(log)
      error = deferred_error.new("stop now")
      writer.raise(error)
      join_within(writer)
      expect(log.pop).to be(error)
      expect(log.pop).to eq(:carried_on)
    end

    it "Timeout raises Timeout::Error, not the store's error" do
      outcome = Thread.new do
        Timeout.timeout(0.1) { @execution.checkpoint(current: ["s", "1"]) }
      rescue Timeout::Error, StandardError => e
        e
      end
      expect(join_within(outcome).value).to be_a(Timeout::Error)
    end
  end
end
