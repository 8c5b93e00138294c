# frozen_string_literal: true

require_relative "cursor"

module Holdfast
  class Continuation
    # A step of a continuable job, with its cursor. Setting or advancing the
    # cursor is a checkpoint: the progress is recorded (in the store, under
    # its durability) and the job may be interrupted there.
    class Step
      attr_reader :name, :cursor

      def initialize(name, cursor, job:, resumed:)
        @name = name.to_sym
        @initial_cursor = cursor
        @cursor = cursor
        @resumed = resumed
        @job = job
      end

      # A checkpoint without moving the cursor.
      def checkpoint!
        @job.checkpoint!
      end

      # Sets the cursor, then checkpoints. The value must be something
      # Active Job can serialize as an argument: it is serialized here, once,
      # for the store (InvalidCursorError otherwise).
      def set!(cursor)
        text = cursor.nil? ? nil : Cursor.dump(cursor)
        @cursor = cursor
        @set_text = text
        checkpoint!
      ensure
        @set_text = nil
      end

      # The cursor as the store keeps it (JSON text), nil before it has one:
      # what set! serialized during its own checkpoint; otherwise serialized
      # now (a cursor may have been changed in place since).
      def stored_cursor
        return nil if @cursor.nil?

        @set_text || Cursor.dump(@cursor)
      end

      # Sets the cursor to the successor of +from+ (or of the cursor), then
      # checkpoints.
      def advance!(from: nil)
        from = cursor if from.nil?
        unless from.respond_to?(:succ)
          raise UnadvanceableCursorError, "Cursor class '#{from.class}' does not implement 'succ'"
        end

        set!(from.succ)
      end

      # Whether this step was in progress in an earlier execution.
      def resumed?
        @resumed
      end

      # Whether the cursor moved in this execution.
      def advanced?
        @initial_cursor != @cursor
      end

      # The step as the job payload carries it: [name, serialized cursor].
      def to_a
        [name.to_s, Cursor.serialize(cursor)]
      end

      def description
        "at '#{name}', cursor '#{cursor.inspect}'"
      end
    end
  end
end
