# frozen_string_literal: true

require "bigdecimal"

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
      # Active Job can serialize as an argument.
      def set!(cursor)
        Cursor.check!(cursor)
        @cursor = cursor
        checkpoint!
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

    # Cursors travel as Active Job arguments do, so a Date comes back a Date.
    # Active Job before 7.1 passes BigDecimal through as-is, so it would come
    # back from JSON a String; there it travels tagged instead.
    module Cursor
      BIG_DECIMAL = "_holdfast_big_decimal"
      TAG_BIG_DECIMALS = !defined?(::ActiveJob::Serializers::BigDecimalSerializer)

      module_function

      def serialize(cursor)
        ::ActiveJob::Arguments.serialize([TAG_BIG_DECIMALS ? tag(cursor) : cursor]).first
      end

      def deserialize(serialized)
        value = ::ActiveJob::Arguments.deserialize([serialized]).first
        TAG_BIG_DECIMALS ? untag(value) : value
      end

      def tag(value)
        case value
        when BigDecimal then { BIG_DECIMAL => value.to_s }
        when Array then value.map { |item| tag(item) }
        when Hash then value.transform_values { |item| tag(item) }
        else value
        end
      end

      def untag(value)
        case value
        when Hash
          return BigDecimal(value[BIG_DECIMAL]) if value.size == 1 && value.key?(BIG_DECIMAL)

          value.transform_values { |item| untag(item) }
        when Array then value.map { |item| untag(item) }
        else value
        end
      end

      def check!(cursor)
        serialize(cursor)
      rescue ::ActiveJob::SerializationError => e
        raise InvalidCursorError, "Cursor class '#{cursor.class}' cannot be serialized by Active Job (#{e.message}); " \
                                  "use integers, strings, arrays, hashes, times, dates or records"
      end

      # The cursor as the store keeps it: JSON text.
      def dump(cursor)
        JSON.generate([serialize(cursor)])
      end

      def load(text)
        deserialize(JSON.parse(text).first)
      end
    end
  end
end
