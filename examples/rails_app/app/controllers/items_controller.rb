# frozen_string_literal: true

class ItemsController < ApplicationController
  def create
    item = Item.create!(name: params.require(:name))
    render json: { id: item.id, inside_executor: Rails.application.executor.active? }
  end

  def version
    render plain: Item.version.to_s
  end

  # Waits at a gate the tests hold closed (RequestGate, defined by them), and
  # reports the model version it saw before and after.
  def slow
    before = Item.version
    RequestGate.enter if defined?(RequestGate)
    render plain: "#{before} #{Item.version}"
  end

  def tally
    TallyJob.perform_later(Item.create!(name: "tally").id)
    head :accepted
  end
end
