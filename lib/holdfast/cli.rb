# frozen_string_literal: true

require "optparse"
require "json"
require_relative "../holdfast"
require_relative "cli/records"

module Holdfast
  # The `holdfast` command (exe/holdfast): look at and steer continuable
  # jobs in a store. Inside a Rails app (a directory with
  # config/environment.rb, the current one or --app DIR) it boots the app
  # and uses its configured store; elsewhere --store URL|PATH (or
  # HOLDFAST_STORE_URL). Exit codes: 0 done, 1 failed (the store, the
  # process asked), 2 usage, 3 not found (job id, process).
  class CLI
    OK = 0
    FAILED = 1
    USAGE = 2
    NOT_FOUND = 3

    COMMANDS = {
      "list" => "list jobs in the store (in flight by default)",
      "show" => "one job in full: steps, cursor, lease, payload",
      "recover" => "re-enqueue orphans (jobs whose worker died) now",
      "discard" => "drop a job's record on purpose",
      "prune" => "delete completed records",
      "locks" => "a running process's share-lock and interlock state"
    }.freeze

    # What a command reports as its failure: message, exit code.
    class Failure < StandardError
      attr_reader :code

      def initialize(message, code = FAILED)
        super(message)
        @code = code
      end
    end

    def self.start(argv, out: $stdout, err: $stderr)
      new(out, err).run(argv.dup)
    end

    def initialize(out, err)
      @out = out
      @err = err
      @options = { format: "table" }
    end

    def run(argv)
      command = argv.shift
      return help(command.nil? ? USAGE : OK) if command.nil? || %w[-h --help help].include?(command)
      return version if %w[-v --version].include?(command)
      raise Failure.new("unknown command #{command.inspect}; the commands are: #{COMMANDS.keys.join(", ")}", USAGE) unless COMMANDS.key?(command)

      @command = command
      parser = parser_for(command)
      args = parser.parse(argv)
      return OK if @options[:help]

      send(:"run_#{command}", args)
    rescue OptionParser::ParseError => e
      fail_with("#{e.message} (holdfast #{command} --help)", USAGE)
    rescue Failure => e
      fail_with(e.message, e.code)
    rescue Holdfast::StoreError, Holdfast::Error, ArgumentError => e
      fail_with(e.message, FAILED)
    end

    private

    def fail_with(message, code)
      @err.puts "holdfast: #{message}"
      code
    end

    def help(code)
      @out.puts "usage: holdfast COMMAND [options]   (holdfast COMMAND --help for each)"
      @out.puts
      COMMANDS.each { |name, text| @out.puts format("  %-8s %s", name, text) }
      @out.puts
      @out.puts "The store: the Rails app's in an app directory (or --app DIR), else --store URL|PATH or HOLDFAST_STORE_URL."
      @out.puts "Exit codes: 0 done, 1 failed, 2 usage, 3 not found."
      code
    end

    def version
      @out.puts "holdfast #{Holdfast::VERSION}"
      OK
    end

    def parser_for(command)
      OptionParser.new do |o|
        o.banner = "usage: holdfast #{command} #{USAGES.fetch(command)}\n\n#{COMMANDS[command]}\n\n"
        send(:"options_#{command}", o) if respond_to?(:"options_#{command}", true)
        unless command == "locks"
          o.on("--store URL_OR_PATH", "the store (default: the app's, or HOLDFAST_STORE_URL)") { |v| @options[:store] = v }
          o.on("--app PATH", "a Rails app directory (or a Ruby file that boots an app)") { |v| @options[:app] = v }
        end
        o.on("--format FORMAT", %w[table json], "table (default) or json") { |v| @options[:format] = v }
        o.on("-h", "--help", "this help") do
          @out.puts o
          @options[:help] = true
        end
      end
    end

    USAGES = {
      "list" => "[--state in_flight|orphaned|quarantined|completed|any] [--job-class NAME] [--limit N]",
      "show" => "JOB_ID",
      "recover" => "[--dry-run] [--limit N] | JOB_ID --force",
      "discard" => "JOB_ID",
      "prune" => "--completed-before DURATION (e.g. 7d, 12h, 30m, 90s)",
      "locks" => "PID [--timeout SECONDS]"
    }.freeze
    private_constant :USAGES

    def options_list(o)
      @options[:state] = "in_flight"
      o.on("--state STATE", %w[in_flight orphaned quarantined completed any], "which records (default in_flight)") do |v|
        @options[:state] = v
      end
      o.on("--job-class NAME", "one job class") { |v| @options[:job_class] = v }
      o.on("--limit N", Integer, "at most N records (default 100)") { |v| @options[:limit] = v }
    end

    def options_recover(o)
      o.on("--dry-run", "list the orphans recovery would take; claim nothing") { @options[:dry_run] = true }
      o.on("--limit N", Integer, "at most N orphans (default 100)") { |v| @options[:limit] = v }
      o.on("--force", "with JOB_ID: recover that job whatever its lease or quarantine") { @options[:force] = true }
    end

    def options_prune(o)
      o.on("--completed-before DURATION", "records completed longer ago than this") { |v| @options[:before] = v }
    end

    def options_locks(o)
      o.on("--timeout SECONDS", Float, "how long to wait for the answer (default 5)") { |v| @options[:timeout] = v }
    end

    def run_list(args)
      no_arguments(args, "list")
      records = Records.list(store, @options[:state], job_class: @options[:job_class], limit: @options[:limit] || 100)
      @options[:format] == "json" ? @out.puts(JSON.pretty_generate(records.map { |r| Records.json(r) })) : Records.table(@out, records)
      OK
    end

    def run_show(args)
      job_id = one_argument(args, "show", "JOB_ID")
      record = store.get(job_id) or raise Failure.new("no record for job #{job_id.inspect} in #{store.location}", NOT_FOUND)
      @options[:format] == "json" ? @out.puts(JSON.pretty_generate(Records.json(record))) : Records.show(@out, record)
      OK
    end

    def run_recover(args)
      return recover_one(args.first) if args.size == 1 && !@options[:dry_run]

      no_arguments(args, "recover")
      limit = @options[:limit] || 100
      if @options[:dry_run]
        orphans = Records.list(store, "orphaned", limit: limit).select { |r| r["payload"] }
        @out.puts "#{orphans.size} orphan#{"s" unless orphans.size == 1} to recover (dry run: nothing claimed)"
        Records.table(@out, orphans) unless orphans.empty?
        return OK
      end
      need_app
      ids = Holdfast.recover_orphans!(store: store, limit: limit)
      @out.puts "re-enqueued #{ids.size} orphan#{"s" unless ids.size == 1}#{ids.empty? ? "" : ": #{ids.join(", ")}"}"
      OK
    end

    # `recover JOB_ID --force`: a quarantined (or any in-flight) job, taken
    # whatever its lease and re-enqueued.
    def recover_one(job_id)
      unless @options[:force]
        raise Failure.new("recover JOB_ID takes the job whatever its lease or quarantine: add --force to mean it", USAGE)
      end

      need_app
      claim = store.claim_one(job_id) or
        raise Failure.new("no in-flight record with a payload for job #{job_id.inspect} in #{store.location}", NOT_FOUND)
      raise Failure.new("could not re-enqueue #{job_id} (see the log)") unless Holdfast.wrapped_reenqueue(claim, store)

      @out.puts "re-enqueued #{job_id}"
      OK
    end

    def need_app
      boot(app_path) if !app_loaded? && app_path
      return if app_loaded?

      raise Failure.new("recover re-enqueues through the app's Active Job adapter: run it in the Rails app's " \
                        "directory or pass --app (--dry-run works anywhere)", USAGE)
    end

    def run_discard(args)
      job_id = one_argument(args, "discard", "JOB_ID")
      raise Failure.new("no record for job #{job_id.inspect} in #{store.location}", NOT_FOUND) unless store.discard(job_id)

      @out.puts "discarded #{job_id}"
      OK
    end

    def run_prune(args)
      no_arguments(args, "prune")
      raise Failure.new("prune needs --completed-before DURATION (e.g. 7d)", USAGE) unless @options[:before]

      cutoff = Time.now - Records.seconds(@options[:before])
      count = store.prune(completed_before: cutoff)
      @out.puts "pruned #{count} record#{"s" unless count == 1} completed before #{cutoff.utc.iso8601}"
      OK
    end

    def run_locks(args)
      pid = Integer(one_argument(args, "locks", "PID"), exception: false)
      raise Failure.new("locks needs a process id, got #{args.first.inspect}", USAGE) unless pid&.positive?

      snapshot = LockSnapshots.request(pid, timeout: @options[:timeout] || 5)
      @options[:format] == "json" ? @out.puts(JSON.pretty_generate(snapshot)) : Records.locks(@out, snapshot)
      OK
    rescue Errno::ESRCH
      raise Failure.new("no process #{pid}", NOT_FOUND)
    rescue Errno::EPERM
      raise Failure.new("process #{pid} is not yours to signal; run as its user")
    end

    def no_arguments(args, command)
      raise Failure.new("#{command} takes no arguments, got #{args.join(" ")}", USAGE) unless args.empty?
    end

    def one_argument(args, command, name)
      raise Failure.new("#{command} needs #{name} (holdfast #{command} --help)", USAGE) unless args.size == 1

      args.first
    end

    def store
      @store ||= open_store
    end

    # Commands that only look open a named store read-only: they never
    # create, migrate or switch a file, and refuse one that is not a
    # Holdfast store without touching it.
    READ_ONLY = %w[list show locks].freeze
    private_constant :READ_ONLY

    def read_only?
      READ_ONLY.include?(@command) || (@command == "recover" && @options[:dry_run])
    end

    def open_store
      if @options[:store]
        open_named(@options[:store])
      elsif app_loaded? || (app = app_path)
        boot(app) unless app_loaded?
        Holdfast.continuation_store or raise Failure.new("the app has no continuation store (config.holdfast.store = false)")
      elsif ENV["HOLDFAST_STORE_URL"]
        open_named(ENV["HOLDFAST_STORE_URL"])
      else
        raise Failure.new("no store: run in a Rails app's directory, or pass --store URL|PATH (or set HOLDFAST_STORE_URL)",
                          USAGE)
      end
    end

    # An SQLite store that does not exist is an error here: listing a
    # mistyped path must not create an empty store there.
    def open_named(text)
      path = Store.sqlite_file(text)
      raise Failure.new("no store at #{path}", NOT_FOUND) if path && !File.exist?(path)

      options = read_only? ? { read_only: true } : {}
      Store.url?(text) ? Store.from_url(text, **options) : Store.sqlite(text, **options)
    end

    # Run from a rake task (rails holdfast:list), the app is already loaded.
    def app_loaded?
      defined?(::Rails.application) && ::Rails.application&.initialized? ? true : false
    end

    def app_path
      return @options[:app] if @options[:app]

      Dir.pwd if File.exist?(File.join(Dir.pwd, "config", "environment.rb"))
    end

    def boot(app)
      file = File.directory?(app) ? File.join(app, "config", "environment.rb") : app
      raise Failure.new("#{app} is not a Rails app (no #{file})", USAGE) unless File.exist?(file)

      # Holdfast is loaded already, before Rails: its Railtie comes now, so
      # the app's config.holdfast settings have somewhere to go. This
      # process only looks: it must not sweep for orphans in the background
      # (`recover --dry-run` claims nothing).
      Backends.recovery_off = true
      require_relative "railtie"
      require File.expand_path(file)
    end
  end
end
