# frozen_string_literal: true

Rails.application.routes.draw do
  post "/items", to: "items#create"
  get "/items/version", to: "items#version"
  get "/slow", to: "items#slow"
  post "/tally", to: "items#tally"
  # Jobs in flight, orphans, completed jobs and this process's locks
  # (HTTP Basic: config/initializers/holdfast.rb).
  mount Holdfast::Dashboard => "/holdfast"
end
