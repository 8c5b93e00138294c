# frozen_string_literal: true

Rails.application.routes.draw do
  post "/items", to: "items#create"
  get "/items/version", to: "items#version"
  get "/slow", to: "items#slow"
  post "/tally", to: "items#tally"
end
