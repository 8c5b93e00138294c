# frozen_string_literal: true

require "json"

module Holdfast
  # The durable continuation store: one record per job id with its completed
  # steps, current step and cursor, resumptions and fencing token. SQLite is
  # the embedded default; PostgreSQL serves workers on many hosts.
  #
  #   store = Holdfast::Store.sqlite("tmp/continuations.sqlite3", durability: { interval: 100 })
  #   execution = store.begin_execution(job_id, "ImportJob")
  #   execution.progress            # => the stored record Hash, or nil for a fresh job
  #   execution.checkpoint(completed: ["validate"], current: ["process", "433"])
  #   execution.complete
  #
  # Durability (when a checkpoint reaches the disk; every policy writes at
  # once when a step completes, on interrupt, on complete, flush and close):
  # - :every_checkpoint: each checkpoint returns once committed
  # - { interval: ms }: write-behind, all jobs' progress in one commit at
  #   most every ms milliseconds; a crash loses at most that window
  # - :step_boundaries: cursor moves stay in memory until the step ends
  #
  # Defined natively (ext/holdfast/src/store.rs): Store.redact(url) (the URL
  # with its password replaced by ***), #flush, #close, #location,
  # Execution#job_id, #job_class, #token, #resumptions, #progress, #complete.
  class Store
    class << self
      # +synchronous+: :full (committed progress survives power loss) or
      # :normal (survives a process crash, not a power loss). +busy_timeout+:
      # seconds a write waits for another process's write.
      #
      # Every store also takes +lease+: seconds an execution's lease lasts
      # unless renewed (its checkpoints and this process's heartbeat renew
      # it; default 15). A job whose lease ran out (its process died) is an
      # orphan that Holdfast.recover_orphans! re-enqueues.
      #
      # And +recovery_timeout+: seconds a recovery claim holds a job for the
      # copy it re-enqueued, until that copy begins (default 3600; a copy
      # that waits longer in its queue may be recovered once more, and a
      # copy that runs after the job completed does nothing);
      # +max_recoveries+: recoveries in a row at the same progress before
      # the job is quarantined as a crash loop (default 3).
      #
      # +read_only+: open only to read (list, show, a dry run). Nothing in
      # the file or database is created, migrated or switched; a missing
      # file, an empty one, or a database that is not a Holdfast store is
      # an error, and writes raise.
      def sqlite(path, durability: :every_checkpoint, synchronous: :full, busy_timeout: 5, read_only: false, **common)
        unless %i[full normal].include?(synchronous)
          raise ArgumentError, "synchronous must be :full or :normal, got #{synchronous.inspect}"
        end

        __open_sqlite(sqlite_path(path), synchronous == :normal,
                      milliseconds(busy_timeout, "busy_timeout", minimum: 0, maximum: 2**31 - 1),
                      common(durability, **common), read_only ? true : false)
      end

      # +table+ is created if absent (never with +read_only+); the URL's
      # password never appears in errors.
      def postgres(url, durability: :every_checkpoint, table: "holdfast_continuations", read_only: false, **common)
        __open_postgres(url.to_s, table.to_s, common(durability, **common), read_only ? true : false)
      end

      def memory(durability: :every_checkpoint, read_only: false, **common)
        raise ArgumentError, "a memory store cannot be opened read-only: it has nothing to read" if read_only

        __open_memory(common(durability, **common))
      end

      # "sqlite:///absolute/path", "sqlite://relative/path",
      # "postgres://user:password@host/db" (or postgresql://), "memory:".
      # What a store URL means:
      # - sqlite:PATH or sqlite://PATH: the SQLite file at PATH, absolute
      #   (sqlite:///var/lib/app/progress.sqlite3) or relative to the current
      #   directory (sqlite:tmp/progress.sqlite3); %XX escapes are decoded;
      #   ~ is not expanded, and ? and # must be escaped.
      # - postgres://... or postgresql://...: libpq's URL, with sslmode
      #   (disable, allow, prefer, require, verify-ca, verify-full) and
      #   sslrootcert (a PEM file, or system).
      # - memory: a store in this process's memory.
      def from_url(url, **options)
        text = url.to_s
        case text
        when /\Asqlite:(?:\/\/)?(.*)\z/m then sqlite(url_path(Regexp.last_match(1), text), **options)
        when %r{\Apostgres(ql)?://} then postgres(text, **options)
        when %r{\Amemory:(//)?\z} then memory(**options.except(:read_only))
        else
          raise ArgumentError, "#{Holdfast::Store.redact(text).inspect} is not a store URL: use sqlite:///path/to/file, " \
                               "postgres://user:password@host/database or memory:"
        end
      end

      # The SQLite file +text+ (a store URL or a path) names, absolute; nil
      # for a URL of another kind.
      def sqlite_file(text)
        text = text.to_s
        return sqlite_path(text) unless url?(text)

        match = text.match(/\Asqlite:(?:\/\/)?(.*)\z/m)
        match && sqlite_path(url_path(match[1], text))
      end

      # Whether +text+ is a store URL (a scheme Holdfast knows), not a path:
      # "tmp/a:b.sqlite3" is a path.
      def url?(text)
        text.to_s.match?(/\A(?:sqlite|postgres|postgresql|memory):/)
      end

      private

      def url_path(raw, url)
        shown = Holdfast::Store.redact(url).inspect
        if raw.empty?
          raise ArgumentError, "#{shown} names no file: write sqlite:///absolute/path or sqlite:relative/path"
        end
        if raw.start_with?(":memory:")
          raise ArgumentError, "#{shown} would make a file named ':memory:'; use memory: for a store in memory"
        end
        if raw.match?(/[?#]/)
          raise ArgumentError, "#{shown}: ? and # are not allowed in a sqlite: URL's path; escape them as %3F and %23"
        end

        decoded = raw.gsub(/%(\h\h)/) { Regexp.last_match(1).hex.chr }.force_encoding(Encoding::UTF_8)
        raise ArgumentError, "#{shown}: the path is not UTF-8 once %-decoded" unless decoded.valid_encoding?

        decoded
      end

      # The absolute path of +path+, taken literally: relative to the current
      # directory, ~ not expanded (that is the shell's job; a file under a
      # directory named "~" is never what was meant).
      def sqlite_path(path)
        text = path.respond_to?(:to_path) ? path.to_path : path
        raise ArgumentError, "the SQLite path must be a String or Pathname, got #{path.class}" unless text.is_a?(String)
        raise ArgumentError, "the SQLite path is empty" if text.empty?
        if text.start_with?("~")
          raise ArgumentError, "#{text.inspect}: ~ is not expanded in a store path; pass File.expand_path(#{text.inspect})"
        end

        File.absolute_path(text)
      end

      def durability_name(durability)
        case durability
        when :every_checkpoint, :step_boundaries then durability.to_s
        when Hash
          interval = durability[:interval]
          if durability.keys == [:interval]
            return "interval:#{milliseconds(interval, "durability interval", milliseconds: true)}"
          end

          bad_durability(durability)
        else bad_durability(durability)
        end
      end

      def bad_durability(durability)
        raise ArgumentError, "durability must be :every_checkpoint, :step_boundaries or { interval: milliseconds }, " \
                             "got #{durability.inspect}"
      end

      # Ten years: longer is "forever", spelled otherwise (no retention).
      MAX_MS = 10 * 365 * 24 * 60 * 60 * 1000

      # Seconds (or, with +milliseconds+, milliseconds) as whole
      # milliseconds, from +minimum+ to +maximum+; an ActiveSupport::Duration
      # is taken as what it says. Anything else (NaN, infinity, a String, a
      # value that rounds below the minimum) is an ArgumentError that says so.
      def milliseconds(value, what, milliseconds: false, minimum: 1, maximum: MAX_MS)
        # ActiveSupport gives every Numeric #in_milliseconds (reading it as
        # seconds), so only a Duration is asked for it.
        ms = if defined?(::ActiveSupport::Duration) && value.is_a?(::ActiveSupport::Duration) then value.in_milliseconds
             elsif value.is_a?(Numeric) && value.real? then milliseconds ? value : value * 1000
             end
        rounded = ms.round if ms.is_a?(Numeric) && ms.to_f.finite?
        unless rounded && rounded >= minimum && rounded <= maximum
          unit = milliseconds ? "milliseconds" : "seconds"
          low, high = [minimum, maximum].map { |m| milliseconds ? m : m / 1000.0 }
          raise ArgumentError, "#{what} must be a number of #{unit} from #{low} to #{high}, got #{value.inspect}"
        end
        rounded
      end

      def common(durability, max_cursor_bytes: nil, retention: nil, lease: nil, recovery_timeout: nil,
                 max_recoveries: nil)
        lease_ms = lease && milliseconds(lease, "lease", minimum: 1000, maximum: 86_400_000)
        timeout_ms = recovery_timeout && milliseconds(recovery_timeout, "recovery_timeout", minimum: 1000,
                                                                                          maximum: 604_800_000)
        unless max_recoveries.nil? || (max_recoveries.is_a?(Integer) && max_recoveries.between?(1, 1000))
          raise ArgumentError, "max_recoveries must be an Integer from 1 to 1000, got #{max_recoveries.inspect}"
        end

        [durability_name(durability), max_cursor_bytes, retention_ms(retention), lease_ms, timeout_ms, max_recoveries]
      end

      def retention_ms(retention)
        return nil if retention.nil?
        return 0 if retention.respond_to?(:zero?) && retention.zero?

        milliseconds(retention, "retention")
      end
    end

    # The job's record as a Hash ("job_id", "job_class", "completed",
    # "current" => [step, cursor JSON text] or nil, "cursor" (decoded),
    # "resumptions", "token", "created_at", "updated_at", "completed_at",
    # "payload", "lease_owner", "lease_expires_at"), or nil.
    def get(job_id)
      Store.with_cursor(__get(Store.name_arg(job_id, "job id")))
    end

    # Records by state (:in_flight, :quarantined, :completed or :any) and
    # job class, most recently updated first unless +order+ is
    # :oldest_first. A record that fails its integrity check is listed as
    # { "job_id" => id, "damaged" => what is wrong } (get raises
    # CorruptStoreError for it); the rest list as usual.
    def list(state: :in_flight, job_class: nil, limit: 100, order: :newest_first)
      unless %i[newest_first oldest_first].include?(order)
        raise ArgumentError, "order must be :newest_first or :oldest_first, got #{order.inspect}"
      end

      job_class = job_class.name if job_class.is_a?(Module)
      __list(state, job_class && Store.name_arg(job_class, "job class"), Integer(limit), order == :newest_first)
        .map { |record| Store.with_cursor(record) }
    end

    # Deletes completed records (completed before +completed_before+, a
    # Time, or all of them); in-flight records are never deleted. Returns
    # how many went.
    def prune(completed_before: nil)
      __prune(completed_before && (completed_before.to_r * 1000).floor)
    end

    # Starts an execution of the job: a new fencing token (older executions
    # of the job, anywhere, get StaleExecutionError from now on) and the
    # progress to resume from.
    #
    # A job whose record is completed is not begun again (Execution#began?
    # is false; the record is left as it was, and writes raise): a stale
    # copy of a finished job does nothing. +restart+: start it over.
    def begin_execution(job_id, job_class, payload: nil, restart: false)
      job_class = job_class.name if job_class.is_a?(Module)
      unless payload.nil? || payload.is_a?(String)
        raise ArgumentError, "payload must be a String (serialize it first, e.g. to JSON), got #{payload.class}"
      end

      __begin(Store.name_arg(job_id, "job id"), Store.name_arg(job_class, "job class"), payload, restart ? true : false)
    end

    # Claims up to +limit+ orphans (in flight, their lease run out, a
    # payload kept) for this process to re-enqueue: each gets a new fencing
    # token (the dead execution can never write again) and a lease held
    # here for one lease period, so if this process dies before
    # re-enqueuing, the orphan comes up again. Two processes never claim the
    # same orphan. Returns Hashes: "job_id", "job_class", "payload",
    # "token", "expired_owner", "expired_at".
    def claim_orphans(limit: 100)
      sweep_orphans(limit: limit).fetch("claimed")
    end

    # One pass of recovery: { "claimed" => claims as claim_orphans returns
    # them (with "recoveries": in a row at this progress), "quarantined" =>
    # records recovery gave up on now (a crash loop: "quarantine_reason"
    # says where), "damaged" => [{ "job_id", "damaged" }] records skipped }.
    # Raises StoreBusyError when another process holds the write lock (a
    # paused writer): nothing was claimed; try again next round.
    def sweep_orphans(limit: 100)
      __claim_orphans(Integer(limit))
    end

    # An operator's forced recovery: claims the job whatever its lease or
    # quarantine (lifting it). The claim Hash, or nil when there is no
    # in-flight record with a payload for +job_id+.
    def claim_one(job_id)
      __claim_one(Store.name_arg(job_id, "job id"))
    end

    # The copy of a claimed job is in its queue: the claim (+token+ from
    # the claim Hash) holds for the store's recovery timeout instead of one
    # lease, so a copy waiting behind a backlog is not claimed and enqueued
    # again. A claim that moved on (its copy began) is left alone.
    def handed_off(job_id, token:)
      __handed_off(Store.name_arg(job_id, "job id"), Integer(token))
    end

    # Gives a claim back that could not be re-enqueued (its queue is down):
    # it is claimed again +retry_in+ seconds from now (at most the recovery
    # timeout), here or anywhere, and does not count toward max_recoveries.
    def hand_back(job_id, token:, retry_in: 0)
      seconds = Float(retry_in)
      raise ArgumentError, "retry_in must be a number of seconds, 0 or more, got #{retry_in.inspect}" unless seconds.finite? && seconds >= 0

      __hand_back(Store.name_arg(job_id, "job id"), Integer(token), (seconds * 1000).clamp(0, 7 * 86_400_000).round)
    end

    # Quarantines a claimed job that cannot be re-enqueued (its class does
    # not load), if +token+ is still its newest; true if it was.
    def quarantine(job_id, token:, reason:)
      __quarantine(Store.name_arg(job_id, "job id"), Integer(token), reason.to_s)
    end

    # Deletes the job's record, in flight or not; true if there was one. An
    # execution still running stops at its next checkpoint; the job id's
    # tokens never go back (a new execution gets a newer one).
    def discard(job_id)
      __discard(Store.name_arg(job_id, "job id"))
    end

    # Adds "cursor": the current step's cursor as the job sees it, nil when
    # the step has none. Continuable jobs keep a cursor as a one-element
    # JSON array of its Active Job serialization: that is decoded (as Active
    # Job arguments are when Active Job is loaded, else to the JSON value;
    # a cursor that no longer decodes, say a deleted record, stays its JSON
    # value). Any other text (the store API takes any String) is itself.
    def self.with_cursor(record)
      return record unless record

      text = record["current"]&.last
      record["cursor"] = text && decode_cursor(text)
      record
    end

    def self.decode_cursor(text)
      parsed = begin
        JSON.parse(text)
      rescue JSON::ParserError
        nil
      end
      return text unless parsed.is_a?(Array) && parsed.size == 1
      return parsed.first unless defined?(::ActiveJob::Arguments)

      require_relative "continuation/cursor"
      begin
        Continuation::Cursor.deserialize(parsed.first)
      rescue StandardError
        parsed.first
      end
    end

    # Ids and names are Strings (or Symbols); anything else is refused
    # rather than turned into some String by to_s.
    def self.name_arg(value, what)
      return value.to_s if value.is_a?(String) || value.is_a?(Symbol)

      raise ArgumentError, "the #{what} must be a String, got #{value.class} (#{value.inspect[0, 60]})"
    end

    # :every_checkpoint, :step_boundaries or { interval: ms }.
    def durability
      name = __durability
      name.start_with?("interval:") ? { interval: Integer(name.delete_prefix("interval:")) } : name.to_sym
    end

    def inspect
      "#<#{self.class.name} #{location} durability=#{durability.inspect}>"
    end

    # The extension's entry points; the methods above are the API.
    private :__get, :__list, :__prune, :__begin, :__claim_orphans, :__claim_one, :__handed_off, :__hand_back,
            :__quarantine, :__discard,
            :__durability
    private_class_method :__open_sqlite, :__open_postgres, :__open_memory

    # One execution of a job (see Store#begin_execution).
    class Execution
      # Records progress: the completed step names and the current step with
      # its cursor (a String, such as ActiveJob-serialized JSON, or nil
      # before the step advanced). +interrupt+ writes it now whatever the
      # durability. Raises Holdfast::Continuation::StaleExecutionError when
      # a newer execution owns the job (nothing is written).
      def checkpoint(completed: [], current: nil, interrupt: false)
        unless current.nil? || (current.is_a?(Array) && (1..2).cover?(current.size))
          raise ArgumentError, "current must be nil or [step_name, cursor], got #{current.inspect[0, 80]}"
        end

        step, cursor = current
        unless cursor.nil? || cursor.is_a?(String)
          raise ArgumentError, "the cursor must be a String (serialize it first, e.g. to JSON), got #{cursor.class}"
        end
        unless completed.is_a?(Array)
          raise ArgumentError, "completed must be an Array of step names, got #{completed.class}"
        end

        __checkpoint(completed.map { |name| Store.name_arg(name, "step name") },
                     step && Store.name_arg(step, "step name"), cursor, interrupt ? true : false)
      end

      # The execution stops here without completing (interrupted and
      # re-enqueued by its backend, or failed): pending progress is written
      # and the lease dropped, so recovery does not take it for an orphan.
      # +keep_lease+: the job's queue dies with this process, so its lease
      # is left to run out and recovery re-enqueues it from another process.
      # Later writes through it are refused.
      def release(keep_lease: false)
        __release(!keep_lease)
      end

      private :__checkpoint, :__release

      def inspect
        "#<#{self.class.name} job_id=#{job_id.inspect} job_class=#{job_class} token=#{token}>"
      end
    end
  end
end
