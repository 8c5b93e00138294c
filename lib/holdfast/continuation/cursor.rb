# frozen_string_literal: true

require "bigdecimal"
require "json"

module Holdfast
  class Continuation
    # Cursors travel as Active Job arguments do, so a Date comes back a Date.
    # Where Active Job passes a BigDecimal through as-is (before 7.1, and on
    # 7.1 unless use_big_decimal_serializer is on) it would come back from
    # JSON a String; there it travels tagged instead. The store keeps a
    # cursor as this serialization in JSON text.
    module Cursor
      BIG_DECIMAL = "_holdfast_big_decimal"

      module_function

      def serialize(cursor)
        ::ActiveJob::Arguments.serialize([tag_big_decimals? ? tag(cursor) : cursor]).first
      end

      def deserialize(serialized)
        value = ::ActiveJob::Arguments.deserialize([serialized]).first
        untag(value)
      end

      # The cursor as the store keeps it: JSON text. What cannot become JSON
      # text (unserializable, recursive, nested past JSON's 100 levels, NaN,
      # bytes that are not UTF-8) is an InvalidCursorError.
      def dump(cursor)
        dump_serialized(serialize(cursor), cursor)
      rescue ::ActiveJob::SerializationError => e
        raise invalid(cursor, e)
      rescue SystemStackError
        raise recursive(cursor)
      end

      # As dump, for a cursor Active Job serialized already (Rails 8.2's
      # continuation does it itself); +cursor+ is the value, for messages.
      def dump_serialized(serialized, cursor)
        JSON.generate([serialized])
      rescue JSON::JSONError, EncodingError => e
        raise invalid(cursor, e)
      rescue SystemStackError
        raise recursive(cursor)
      end

      def recursive(cursor)
        InvalidCursorError.new("Cursor class '#{cursor.class}' contains itself (a recursive structure) and cannot " \
                               "be serialized; use integers, strings, arrays, hashes, times, dates or records")
      end

      def load(text)
        deserialize(JSON.parse(text).first)
      end

      def invalid(cursor, error)
        InvalidCursorError.new("Cursor class '#{cursor.class}' cannot be serialized by Active Job (#{error.message}); " \
                               "use integers, strings, arrays, hashes, times, dates or records")
      end

      # Active Job 7.2+ always serializes BigDecimal (7.1 only when
      # use_big_decimal_serializer is on; before 7.1 never).
      def tag_big_decimals?
        version = ::ActiveJob.gem_version
        return false if version >= Gem::Version.new("7.2")
        return true if version < Gem::Version.new("7.1")

        !::ActiveJob.use_big_decimal_serializer
      end

      def tag(value)
        case value
        when BigDecimal then { BIG_DECIMAL => value.to_s }
        when Array then value.map { |item| tag(item) }
        when Hash then value.transform_values { |item| tag(item) }
        else value
        end
      end

      # Tagged values are read back whatever the setting is now, so a cursor
      # saved before a configuration change still comes back a BigDecimal.
      def untag(value)
        case value
        when Hash
          return BigDecimal(value[BIG_DECIMAL]) if value.size == 1 && value.key?(BIG_DECIMAL)

          value.transform_values { |item| untag(item) }
        when Array then value.map { |item| untag(item) }
        else value
        end
      end
    end
  end
end
