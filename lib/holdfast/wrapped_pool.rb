# frozen_string_literal: true

module Holdfast
  # A fixed pool of threads in which every task runs inside its own
  # +executor.wrap+, so the executor's callbacks (connection cleanup, query
  # cache, reload locks) run around each task and nothing leaks between them.
  # Made by +executor.pool(size)+.
  class WrappedPool
    attr_reader :executor, :size

    def initialize(executor, size, name: nil)
      unless size.is_a?(Integer) && size.positive?
        raise ArgumentError, "pool size must be a positive Integer, got #{size.inspect}"
      end

      @executor = executor
      @size = size
      @queue = Thread::Queue.new
      @workers = Array.new(size) do |index|
        Thread.new do
          Thread.current.name = "#{name || "holdfast-pool"}-#{index}"
          work
        end
      end
    end

    # Runs the block on a pool thread inside the executor. An error is
    # reported by the executor's +wrap+ and does not stop the worker.
    def post(*args, &block)
      raise ArgumentError, "post needs a block" unless block

      @queue.push([block, args])
      true
    rescue ClosedQueueError
      raise PoolShutdownError, "cannot post to #{inspect}: it was shut down; make a new pool with executor.pool(size)"
    end

    # Like post, and returns a Future for the block's value.
    def future(*args, &block)
      raise ArgumentError, "future needs a block" unless block

      future = Future.new
      post { future.resolve_with { block.call(*args) } }
      future
    end

    # Stops taking tasks; tasks already posted still run.
    def shutdown
      @queue.close
      true
    end

    def shutdown?
      @queue.closed?
    end

    # Waits for every worker to finish after shutdown. Returns true when all
    # did within +timeout+ seconds (nil waits forever), false otherwise.
    def wait_for_termination(timeout = nil)
      deadline = timeout && Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      @workers.all? do |worker|
        remaining = deadline && [deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0].max
        worker.join(remaining)
      end
    end

    def inspect
      "#<#{self.class.name} executor=#{@executor.name || @executor.inspect} size=#{@size}#{" shutdown" if shutdown?}>"
    end

    private

    def work
      while (task = @queue.pop)
        block, args = task
        begin
          @executor.wrap(source: "holdfast.pool") { block.call(*args) }
        rescue StandardError
          # Reported by wrap; the worker lives on for the next task.
        end
      end
    end
  end

  # The eventual value of a pool task. +value+ waits for it and re-raises the
  # task's error.
  class Future
    def initialize
      @mutex = Mutex.new
      @resolved = ConditionVariable.new
      @state = :pending
    end

    def resolve_with # :nodoc:
      result = yield
      settle(:fulfilled, result, nil)
    rescue Exception => e # rubocop:disable Lint/RescueException -- handed to whoever asks for value
      settle(:rejected, nil, e)
    end

    # Waits up to +timeout+ seconds (nil: forever); true once resolved.
    def wait(timeout = nil)
      deadline = timeout && Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      @mutex.synchronize do
        while @state == :pending
          remaining = deadline && deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
          break if remaining && remaining <= 0

          @resolved.wait(@mutex, remaining)
        end
        @state != :pending
      end
    end

    # The task's return value; re-raises its error. With a +timeout+ that
    # runs out, returns nil.
    def value(timeout = nil)
      return nil unless wait(timeout)
      raise @error if @state == :rejected

      @value
    end

    def resolved? = @state != :pending
    def fulfilled? = @state == :fulfilled
    def rejected? = @state == :rejected

    def reason
      @error
    end

    private

    def settle(state, value, error)
      @mutex.synchronize do
        @value = value
        @error = error
        @state = state
        @resolved.broadcast
      end
    end
  end
end
