# frozen_string_literal: true

ActiveRecord::Schema.define do
  create_table :items, force: true do |t|
    t.string :name, null: false
    t.boolean :tallied_inside_executor
    t.timestamps
  end
end
