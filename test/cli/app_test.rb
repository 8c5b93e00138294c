# frozen_string_literal: true

# The command and the Rails tasks inside an app (test/backends/app.rb on
# delayed_job, so a recovered job lands in a table the test can read), the
# install generator, and `holdfast locks PID` against a live process.
require_relative "cli_test"
require "timeout"

class CLIAppTest < Minitest::Test
  include CLIHelpers

  APP = File.join(ROOT, "test", "backends", "app.rb")

  def setup
    @dir = Dir.mktmpdir("holdfast-cli-app")
    @store = File.join(@dir, "continuations.sqlite3")
    @env = { "JOBS_ADAPTER" => "delayed_job", "APP_ROOT" => @dir, "HOLDFAST_STORE_URL" => "sqlite:#{@store}",
             "DATABASE_PATH" => File.join(@dir, "jobs.sqlite3"), "RAILS_ENV" => "production",
             "HOLDFAST_RECOVERY_INTERVAL" => "3600" }
  end

  def teardown
    @live&.close
    FileUtils.rm_rf(@dir)
  end

  def delayed_jobs
    require "sqlite3"
    db = SQLite3::Database.new(@env["DATABASE_PATH"])
    db.execute("SELECT handler FROM delayed_jobs").flatten
  ensure
    db&.close
  end

  def test_recover_re_enqueues_through_the_apps_adapter
    populate("sqlite://#{@store}")
    token = @live.get("orphan-1")["token"]
    out, err, code = holdfast("recover", "--app", APP, env: @env)
    assert_equal 0, code, err
    assert_match(/^re-enqueued 1 orphan: orphan-1$/, out)
    assert_equal token + 1, @live.get("orphan-1")["token"], "claimed: the dead execution is fenced"
    handlers = delayed_jobs
    assert_equal 1, handlers.size
    assert_match(/job_id: orphan-1\n/, handlers.first)
    out, = holdfast("recover", "--app", APP, env: @env)
    assert_match(/^re-enqueued 0 orphans$/, out)
  end

  # Booting an :async app (whose processes sweep for orphans) to look must
  # not take the orphan: a dry run claims nothing, even in the background.
  def test_looking_from_an_async_app_claims_nothing
    populate("sqlite://#{@store}")
    token = @live.get("orphan-1")["token"]
    out, err, code = holdfast("recover", "--dry-run", "--app", APP, env: @env.merge("JOBS_ADAPTER" => "async",
                                                                                     "HOLDFAST_RECOVERY_INTERVAL" => "0.1"))
    assert_equal 0, code, err
    assert_match(/^1 orphan to recover/, out)
    assert_equal token, @live.get("orphan-1")["token"]
  end

  def test_rails_tasks_are_the_same_commands
    populate("sqlite://#{@store}")
    rake = lambda do |*tasks, env: {}|
      script = "require #{APP.dump}; Rails.application.load_tasks; ARGV.each { |t| Rake.application.invoke_task(t) }"
      out, err, status = Open3.capture3(@env.merge(env), "timeout", "-s", "KILL", "120", RbConfig.ruby,
                                        "-I#{ROOT}/lib", "-e", script, *tasks)
      [out, err, status.exitstatus]
    end
    out, err, code = rake.call("holdfast:list", env: { "STATE" => "orphaned" })
    assert_equal 0, code, err
    assert_equal %w[orphan-1], ids(out[/^JOB ID.*/m])
    out, err, code = rake.call("holdfast:show[orphan-1]")
    assert_equal 0, code, err
    assert_match(/^cursor\s+3000$/, out)
    out, = rake.call("holdfast:recover", env: { "DRY_RUN" => "1" })
    assert_match(/^1 orphan to recover/, out)
    _, err, code = rake.call("holdfast:show[nope]")
    assert_equal 3, code
    assert_match(/no record for job "nope"/, err)
    out, = rake.call("holdfast:prune", env: { "COMPLETED_BEFORE" => "0s" })
    assert_match(/^pruned 1 record /, out)
  end

  def test_the_install_generator_writes_every_setting_and_the_app_reads_them
    script = "require #{APP.dump}; require 'rails/generators'; " \
             "Rails::Generators.invoke('holdfast:install', ['--quiet'], destination_root: #{@dir.dump})"
    _, err, status = Open3.capture3(@env, RbConfig.ruby, "-I#{ROOT}/lib", "-e", script)
    assert status.success?, err
    initializer = File.join(@dir, "config", "initializers", "holdfast.rb")
    text = File.read(initializer)
    %w[store durability retention lease recovery_timeout max_recoveries recovery recovery_interval lock_snapshots lock_wait_threshold
       unwrapped_code].each { |setting| assert_match(/^  # config\.holdfast\.#{setting} = /, text) }
    # Uncommented, the settings reach Holdfast when the app boots.
    File.write(initializer, text.sub("# config.holdfast.lease = 15", "config.holdfast.lease = 7")
                               .sub("# config.holdfast.retention = nil", "config.holdfast.retention = 3600"))
    probe = "require #{APP.dump}; print [Holdfast.config.lease, Holdfast.config.retention].inspect"
    out, err, status = Open3.capture3(@env, RbConfig.ruby, "-I#{ROOT}/lib", "-e", probe)
    assert status.success?, err
    assert_equal "[7, 3600]", out.lines.last
  end

  def test_locks_reads_a_live_process
    holder = File.join(ROOT, "test", "cli", "lock_holder.rb")
    stdin, out, waiter = Open3.popen2(RbConfig.ruby, "-I#{ROOT}/lib", holder)
    stdin.close
    ready = Timeout.timeout(30) { out.gets }
    assert_equal "ready #{waiter.pid}\n", ready
    text, err, code = holdfast("locks", waiter.pid.to_s)
    assert_equal 0, code, err
    assert_match(/\Aprocess #{waiter.pid} at \S+: 1 busy lock\n/, text)
    assert_match(/^    thread 0x\h+: holds exclusive \(purpose nil\)$/, text)
    assert_match(/^    thread 0x\h+: holds nothing; sleeping in start_sharing for \d+\.\d\ds$/, text)
    json, = holdfast("locks", waiter.pid.to_s, "--format", "json")
    entries = JSON.parse(json)["locks"].first["entries"]
    assert_equal [true, "start_sharing"], [entries.any? { |e| e["exclusive"] }, entries.filter_map { |e| e["sleeper"] }.first]
  ensure
    Process.kill("KILL", waiter.pid) if waiter
    waiter&.value
  end

  def test_locks_on_a_process_that_does_not_answer_or_does_not_exist
    quiet = Process.spawn("sleep", "60")
    _, err, code = holdfast("locks", quiet.to_s, "--timeout", "0.5")
    assert_equal 1, code
    assert_match(/process #{quiet} did not answer SIGURG within 0\.5 s/, err)
    Process.kill("KILL", quiet)
    Process.wait(quiet)
    assert_equal [3, "holdfast: no process #{quiet}\n"], holdfast("locks", quiet.to_s)[1..].reverse
    assert_equal 2, holdfast("locks", "abc")[2]
  end
end
