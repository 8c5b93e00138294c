# frozen_string_literal: true

require "test_helper"

# Active Job's async adapter runs jobs on its own threads; Active Job wraps
# each in Rails.application.reloader.wrap, now Holdfast's.
class JobsTest < Minitest::Test
  def test_jobs_run_inside_the_executor_on_the_async_adapters_threads
    offset = log_offset
    assert_equal 202, app.post("/tally").status
    item_id, inside = pop_within(JobProbe::DONE)
    assert inside, "the job ran outside Rails.application.executor"
    assert_equal true, Item.find(item_id).tallied_inside_executor

    ids = Array.new(20) { |i| Item.create!(name: "job-#{i}").id }
    ids.each { |id| TallyJob.perform_later(id) }
    done = Array.new(20) { pop_within(JobProbe::DONE) }
    assert_equal ids.sort, done.map(&:first).sort
    assert(done.all?(&:last))
    refute_includes log_since(offset), "[Holdfast]"
  end

  def test_a_continuable_job_keeps_its_progress_in_the_apps_store
    Array.new(30) { |i| Item.create!(name: "continuable-#{i}") }
    job = TallyAllJob.perform_later
    name, tallied = pop_within(JobProbe::DONE)
    assert_equal [:tally_all, Item.count], [name, tallied]
    store = Holdfast.continuation_store
    assert_equal "SQLite store #{Rails.root.join("tmp", "holdfast", "continuations.sqlite3")}", store.location
    # The job completes its record just after perform returns.
    Timeout.timeout(Bounded::WAIT) { Thread.pass until store.get(job.job_id)&.fetch("completed_at") }
    record = store.get(job.job_id)
    assert_equal ["tally"], record["completed"]
    assert_equal "TallyAllJob", record["job_class"]
  end
end
