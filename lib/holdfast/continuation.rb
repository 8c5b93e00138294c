# frozen_string_literal: true

require "json"
require_relative "continuation/step"
require_relative "continuation/validation"

module Holdfast
  # A job's progress through its steps in this execution: which steps
  # completed, which is in progress and where, and whether this execution
  # moved anything (Rails 8.1's ActiveJob::Continuation, on Active Job 6.1+).
  class Continuation
    include Validation

    attr_reader :completed, :current

    # From the job payload's "continuation" Hash.
    def self.from_payload(job, data)
      name, cursor = data["current"]
      new(job, completed: data.fetch("completed", []),
               current: data.key?("current") ? [name, Cursor.deserialize(cursor)] : nil)
    end

    # From a store record (cursors there are JSON text).
    def self.from_record(job, record)
      name, cursor = record["current"]
      new(job, completed: record["completed"],
               current: name && [name, cursor && Cursor.load(cursor)])
    end

    def initialize(job, completed: [], current: nil)
      @job = job
      @completed = completed.map(&:to_sym)
      @current = current && Step.new(current[0], current[1], job: job, resumed: true)
      @encountered = []
      @advanced = false
      @running_step = false
      @isolate_next = false
    end

    def step(name, start:, isolated:, &block)
      validate_step!(name)
      @encountered << name
      if @completed.include?(name)
        instrument(:step_skipped, step: name)
      else
        @job.interrupt!(reason: :isolating) if @isolate_next || (isolated && advanced?)
        run_step(name, start, isolated, &block)
      end
    end

    # The payload's "continuation", as Rails 8.1 writes it: "completed"
    # always, "current" only while a step is in progress.
    def to_h
      data = { "completed" => @completed.map(&:to_s) }
      data["current"] = @current.to_a if @current
      data
    end

    # What the store keeps: step names and the cursor as JSON text.
    def to_store
      current = @current && [@current.name.to_s, @current.stored_cursor]
      [@completed.map(&:to_s), current]
    end

    def description
      if @current then @current.description
      elsif @completed.any? then "after '#{@completed.last}'"
      else "not started"
      end
    end

    # Whether the job had progress when this execution started (or has now).
    def started?
      @completed.any? || !@current.nil?
    end

    # Whether this execution made progress: completed a step or moved a cursor.
    def advanced?
      @advanced || (@current&.advanced? ? true : false)
    end

    def instrumentation
      { description: description, completed_steps: @completed, current_step: @current }
    end

    private

    def run_step(name, start, isolated, &block)
      @running_step = true
      @current ||= Step.new(name, start, job: @job, resumed: false)
      instrument(:step, step: @current, interrupted: false) do |payload|
        instrument(:step_started, step: @current)
        block.call(@current)
      rescue Interrupt
        payload[:interrupted] = true
        raise
      end
      @completed << @current.name
      @current = nil
      @advanced = true
      @isolate_next = isolated
    ensure
      @running_step = false
      @advanced ||= @current&.advanced? ? true : false
    end

    def instrument(event, payload, &block)
      @job.__holdfast_instrument(event, payload, &block)
    end
  end
end
