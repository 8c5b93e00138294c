# frozen_string_literal: true

# Records whether Active Job ran it inside the app's executor (it does:
# Active Job wraps every execution in Rails.application.reloader.wrap).
class TallyJob < ApplicationJob
  def perform(item_id)
    inside = Rails.application.executor.active?
    Item.find(item_id).update!(tallied_inside_executor: inside)
    JobProbe.done(item_id, inside) if defined?(JobProbe)
  end
end
