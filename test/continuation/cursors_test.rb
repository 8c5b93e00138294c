# frozen_string_literal: true

require_relative "helper"
require "bigdecimal"

class CursorJob < ActiveJob::Base
  include Holdfast::Continuable
  cattr_accessor :seen, default: []
  cattr_accessor :plan

  def perform
    step(:walk, start: plan.fetch(:start)) do |step|
      plan.fetch(:moves).each do |move|
        seen << [step.cursor, step.resumed?, step.advanced?]
        instance_exec(step, &move)
      end
      seen << [step.cursor, step.resumed?, step.advanced?]
    end
  end
end

class CursorsTest < ContinuationTestCase
  setup { CursorJob.seen = [] }

  def run_plan(start:, moves:, interrupt_at: nil)
    CursorJob.plan = { start: start, moves: moves }
    CursorJob.perform_later
    if interrupt_at
      interrupt_job_during_step(CursorJob, :walk, cursor: interrupt_at) { perform_enqueued_jobs }
    else
      perform_enqueued_jobs
    end
  end

  test "set! moves to any value, advance! to the successor (of from: when given), checkpoint! stays" do
    run_plan(start: 0, moves: [->(s) { s.set!(10) }, ->(s) { s.advance! }, ->(s) { s.advance!(from: 41) },
                               ->(s) { s.checkpoint! }])
    assert_equal [[0, false, false], [10, false, true], [11, false, true], [42, false, true], [42, false, true]],
                 CursorJob.seen
  end

  test "checkpoint! interrupts without moving the cursor" do
    run_plan(start: 7, moves: [->(s) { s.checkpoint! }], interrupt_at: 7)
    assert_equal({ "completed" => [], "current" => ["walk", 7] }, enqueued_jobs.last["continuation"])
    # Rails 8.1 counts an interrupt under the interrupt's message.
    assert_equal({ "Interrupted at 'walk', cursor '7' (stopping)" => 1 }, enqueued_jobs.last["exception_executions"])
  end

  test "compound and heterogeneous cursors come back as the same types" do
    cursors = [
      [3, "b"],
      { "account" => 4, "record" => 9 },
      Date.new(2026, 11, 29),
      Time.utc(2026, 11, 29, 12, 0, 0),
      :done,
      BigDecimal("1.5"),
      "plain"
    ]
    cursors.each do |cursor|
      CursorJob.seen = []
      run_plan(start: nil, moves: [->(s) { s.set!(cursor) }], interrupt_at: cursor)
      perform_enqueued_jobs
      resumed_with = CursorJob.seen.find { |_, resumed, _| resumed }&.first
      assert_equal cursor, resumed_with, "cursor #{cursor.inspect}"
      assert_equal cursor.class, resumed_with.class
    end
  end

  test "advance! on a cursor without succ raises and is not turned into a resume" do
    CursorJob.plan = { start: 1.5, moves: [->(s) { s.advance! }] }
    CursorJob.perform_later
    error = assert_raises(Holdfast::Continuation::UnadvanceableCursorError) { perform_enqueued_jobs }
    assert_equal "Cursor class 'Float' does not implement 'succ'", error.message
    assert_empty enqueued_jobs
  end

  test "a cursor Active Job cannot serialize raises at set! naming its class" do
    CursorJob.plan = { start: 0, moves: [->(s) { s.set!(1) }, ->(s) { s.set!(Object.new) }] }
    CursorJob.perform_later
    error = assert_raises(Holdfast::Continuation::InvalidCursorError) { perform_enqueued_jobs }
    assert_match(/\ACursor class 'Object' cannot be serialized by Active Job/, error.message)
  end

  test "cursors JSON cannot hold (too deep, recursive, NaN, not UTF-8) raise InvalidCursorError at set!" do
    deep = 150.times.reduce(1) { |inner, _| [inner] }
    recursive = [1].tap { |array| array << array }
    { deep => /cannot be serialized/, recursive => /contains itself/, Float::NAN => /cannot be serialized/,
      "\xFF\xFE".b => /cannot be serialized/ }.each do |cursor, message|
      CursorJob.plan = { start: 0, moves: [->(s) { s.set!(1) }, ->(s) { s.set!(cursor) }] }
      CursorJob.perform_later
      error = assert_raises(Holdfast::Continuation::InvalidCursorError, "cursor #{cursor.class}") { perform_enqueued_jobs }
      assert_match message, error.message
      assert_match(/\ACursor class '(Array|Float|String)'/, error.message)
    end
  end
end

require "active_record"
require "global_id"

class CursorRecordsTest < ContinuationTestCase
  class Account < ActiveRecord::Base
    include GlobalID::Identification
  end

  setup do
    GlobalID.app = "holdfast-test"
    connect_active_record
    ActiveRecord::Base.connection.create_table(:accounts) { |t| t.string :name }
    CursorJob.seen = []
  end

  teardown { disconnect_active_record }

  test "a record cursor travels as its GlobalID and comes back as the record" do
    account = Account.create!(name: "acme")
    CursorJob.plan = { start: nil, moves: [->(s) { s.set!(account) }] }
    CursorJob.perform_later
    interrupt_job_during_step(CursorJob, :walk, cursor: account) { perform_enqueued_jobs }
    # Holdfast's payload carries it as Active Job serializes it, as Rails
    # 8.2's does (8.1's carries the value as it is); the store keeps the
    # GlobalID either way.
    payload_cursor = RAILS_CONTINUATIONS && !RAILS_SERIALIZES_CURSORS ? account : { "_aj_globalid" => account.to_global_id.to_s }
    assert_equal payload_cursor, enqueued_jobs.last["continuation"]["current"][1]
    stored = @store.get(enqueued_jobs.last["job_id"])["current"][1]
    assert_equal [{ "_aj_globalid" => account.to_global_id.to_s }], JSON.parse(stored)
    perform_enqueued_jobs
    resumed_with = CursorJob.seen.find { |_, resumed, _| resumed }&.first
    assert_equal account, resumed_with
    assert_instance_of Account, resumed_with
  end
end
