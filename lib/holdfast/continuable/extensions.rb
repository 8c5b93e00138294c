# frozen_string_literal: true

module Holdfast
  module Continuable
    # What Holdfast adds to a continuable job class on every Active Job:
    # a maximum runtime per execution and interrupt_if checks.
    module Extensions
      def self.add_to(job_class)
        job_class.class_attribute :max_runtime, instance_writer: false
        job_class.class_attribute :__holdfast_interrupt_ifs, instance_writer: false, default: [].freeze
        job_class.extend(ClassMethods)
      end

      module ClassMethods
        # Adds a check made at every checkpoint: a truthy result interrupts
        # the job (true means reason :stopping; another value is the reason).
        def interrupt_if(&check)
          raise ArgumentError, "interrupt_if needs a block taking the job" unless check

          self.__holdfast_interrupt_ifs = [*__holdfast_interrupt_ifs, check].freeze
        end
      end
    end
  end
end
