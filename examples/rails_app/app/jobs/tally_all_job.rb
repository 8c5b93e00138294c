# frozen_string_literal: true

# A continuable job (Rails 8.1's API, on Rails 6.1 through Holdfast): marks
# every item tallied, one cursor step at a time, its progress in the store.
class TallyAllJob < ApplicationJob
  include Holdfast::Continuable

  def perform
    step :tally, start: 0 do |step|
      Item.where("id > ?", step.cursor).order(:id).find_each do |item|
        item.update!(tallied_inside_executor: Rails.application.executor.active?)
        step.advance! from: item.id
      end
    end
    JobProbe.done(:tally_all, Item.where(tallied_inside_executor: true).count) if defined?(JobProbe)
  end
end
