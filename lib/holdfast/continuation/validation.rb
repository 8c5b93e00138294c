# frozen_string_literal: true

module Holdfast
  class Continuation
    # The checks a step declaration must pass, with the messages Rails 8.1
    # gives.
    module Validation
      private

      def validate_step!(name)
        unless name.is_a?(Symbol)
          invalid_step!("Step '#{name}' must be a Symbol, found '#{name.class}'")
        end
        invalid_step!("Step '#{name}' has already been encountered") if @encountered.include?(name)
        invalid_step!("Step '#{name}' is nested inside step '#{@current.name}'") if @running_step
        if @current && @current.name != name && !@completed.include?(name)
          invalid_step!("Step '#{name}' found, expected to resume from '#{@current.name}'")
        end
        expected = @completed[@encountered.size]
        return unless @completed.size > @encountered.size && expected != name

        invalid_step!("Step '#{name}' found, expected to see '#{expected}'")
      end

      def invalid_step!(message)
        raise InvalidStepError, message
      end
    end
  end
end
