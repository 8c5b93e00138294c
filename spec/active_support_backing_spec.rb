# frozen_string_literal: true

require "open3"
require "rbconfig"

# holdfast/active_support changes ActiveSupport's classes for the whole
# process, so each example runs its script in a fresh Ruby.
RSpec.describe "require \"holdfast/active_support\"" do
  lib = File.expand_path("../lib", __dir__)
  define_method(:lib) { lib }

  def ruby(script)
    output, status = Open3.capture2e(RbConfig.ruby, "-I#{lib}", "-e", script)
    [output, status]
  end

  def ruby!(script)
    output, status = ruby(script)
    expect(status).to be_success, output
    output
  end

  it "backs executors made before and after it, keeping their classes and callbacks" do
    out = ruby!(<<~RUBY)
      require "active_support"
      require "active_support/executor"
      $log = []
      early = Class.new(ActiveSupport::Executor)
      early.to_run { $log << :early_run }
      early.to_complete(if: -> { true }) { $log << :early_complete }
      early.to_complete(unless: -> { true }) { $log << :never }
      require "holdfast/active_support"
      late = Class.new(early)
      late.to_run { $log << :late_run }
      late.wrap { $log << [:body, late.active?, early.active?] }
      p $log
      p [Holdfast::ActiveSupport.installed?, late.ancestors.include?(ActiveSupport::Executor), ActiveSupport::Executor.name]
      p [early.instance_variable_get(:@__holdfast_core).class, late.run!.class == late]
    RUBY
    expect(out.lines.map(&:chomp)).to eq([
                                           "[:early_run, :late_run, [:body, true, false], :early_complete]",
                                           "[true, true, \"ActiveSupport::Executor\"]",
                                           "[Holdfast::Native::ExecutorCore, true]"
                                         ])
  end

  it "gives every ActiveSupport's executors the Rails 8.1 API: wrap(source:), run!(reset:), perform" do
    out = ruby!(<<~RUBY)
      require "holdfast/active_support"
      reports = []
      executor = Class.new(ActiveSupport::Executor)
      # Rails.error from 7.1, the class's own on 7.0, Holdfast's on 6.1 (no source: before 7.1).
      executor.error_reporter.subscribe(Class.new { define_method(:report) { |e, **o| reports << [e.message, o[:handled], o.fetch(:source, "my.job")] } }.new)
      log = []
      executor.to_run { log << :run }
      executor.to_complete { log << :complete }
      begin
        executor.wrap(source: "my.job") { executor.wrap { raise "boom" } }
      rescue => e
        log << e.message
      end
      lost = executor.run!
      fresh = executor.run!(reset: true)
      fresh.complete!
      p [executor.perform { log << [:perform, executor.active?]; :done }, executor.active?, lost.equal?(fresh)]
      p log
      p reports
    RUBY
    expect(out.lines.map(&:chomp)).to eq([
                                           "[:done, false, false]",
                                           # wrap; run!; reset: completes the lost one, runs; complete!; perform
                                           "[:run, :complete, \"boom\", :run, :complete, :run, :complete, " \
                                           ":run, [:perform, false], :complete]",
                                           "[[\"boom\", false, \"my.job\"]]"
                                         ])
  end

  it "is harmless when required twice" do
    out = ruby!(<<~RUBY)
      require "holdfast/active_support"
      executor = Class.new(ActiveSupport::Executor)
      count = 0
      executor.to_run { count += 1 }
      p [require("holdfast/active_support"), load(File.join(#{lib.inspect}, "holdfast/active_support.rb")), Holdfast::ActiveSupport.install!]
      executor.wrap {}
      p [count, ActiveSupport::ExecutionWrapper.singleton_class.ancestors.count(Holdfast::ExecutorMethods)]
    RUBY
    expect(out.lines.map(&:chomp)).to eq(["[false, true, false]", "[1, 1]"])
  end

  ["6.0.4", "8.2.0"].each do |version|
    it "refuses Active Support #{version}, outside what the matrix proves, before changing anything" do
      output, status = ruby(<<~RUBY)
        require "active_support"
        require "active_support/executor"
        def ActiveSupport.gem_version = Gem::Version.new("#{version}")
        begin
          require "holdfast/active_support"
        rescue Holdfast::UnsupportedVersionError => e
          puts e.message
          p [Holdfast::ActiveSupport.installed?, ActiveSupport::ExecutionWrapper.singleton_class.ancestors.include?(Holdfast::ExecutorMethods)]
          exit 3
        end
      RUBY
      expect(status.exitstatus).to eq(3), output
      expect(output).to include("ActiveSupport < 8.2, >= 6.1").or include("ActiveSupport >= 6.1, < 8.2")
      expect(output).to include("loaded ActiveSupport #{version}").and include("Nothing was changed")
      expect(output.lines.last.chomp).to eq("[false, false]")
    end
  end

  it "puts the load interlock and new share locks on Holdfast's lock, leaving a lock held at install on Ruby" do
    out = ruby!(<<~RUBY)
      require "active_support"
      require "active_support/dependencies"
      busy = ActiveSupport::Concurrency::ShareLock.new
      busy.start_sharing
      require "holdfast/active_support"
      interlock_lock = ActiveSupport::Dependencies.interlock.instance_variable_get(:@lock)
      fresh = ActiveSupport::Concurrency::ShareLock.new
      p [interlock_lock.holdfast_lock.class, fresh.holdfast_lock.class, busy.holdfast_lock]
      busy.stop_sharing
      p fresh.exclusive(purpose: :x) { fresh.raw_state { |s| s[Thread.current][:exclusive] } }
      t = Thread.new { ActiveSupport::Dependencies.interlock.running { Thread.stop } }
      Thread.pass until t.status == "sleep"
      p ActiveSupport::Dependencies.interlock.instance_variable_get(:@lock).holdfast_lock.snapshot.size
      t.run; t.join
    RUBY
    expect(out.lines.map(&:chomp)).to eq(["[Holdfast::ShareLock, Holdfast::ShareLock, nil]", "true", "1"])
  end

  it "refuses skip_callback on the core's chains with the alternative, and keeps other chains on ActiveSupport" do
    out = ruby!(<<~RUBY)
      require "holdfast/active_support"
      reloader = Class.new(ActiveSupport::Reloader)
      begin
        reloader.skip_callback(:run, :before, :foo)
      rescue NotImplementedError => e
        puts e.message
      end
      prepared = 0
      reloader.to_prepare { prepared += 1 }
      reloader.prepare!
      p prepared
    RUBY
    expect(out).to match(/skip_callback\(:run\) is not supported while Holdfast backs ActiveSupport's executors: give the callback an if:/)
    expect(out.lines.last.chomp).to eq("1")
  end
end
