# frozen_string_literal: true

require "json"
require "time"

module Holdfast
  class CLI
    # How the command shows records and lock snapshots, and reads durations.
    module Records
      module_function

      # Where a record stands: "running" (its lease is live), "orphaned"
      # (its lease ran out: its process died), "queued" (stopped and handed
      # back to its backend, no lease), "quarantined" (recovery gave up on
      # it), "completed", or "damaged" (it failed its integrity check).
      def state(record, now = Time.now)
        return "damaged" if record["damaged"]
        return "completed" if record["completed_at"]
        return "quarantined" if record["quarantined_at"]
        return "queued" unless record["lease_expires_at"]

        record["lease_expires_at"] <= now ? "orphaned" : "running"
      end

      # +state+: in_flight, orphaned, quarantined, completed or any.
      def list(store, state, job_class: nil, limit: 100)
        return store.list(state: state.to_sym, job_class: job_class, limit: limit) unless state == "orphaned"

        now = Time.now
        store.list(state: :in_flight, job_class: job_class, limit: 100_000, order: :oldest_first)
             .select { |record| state(record, now) == "orphaned" }.first(limit)
      end

      def json(record)
        return record.merge("state" => "damaged") if record["damaged"]

        payload = record["payload"] && parse(record["payload"])
        record.merge("state" => state(record), "payload" => payload).transform_values do |value|
          value.is_a?(Time) ? value.utc.iso8601(3) : value
        end
      end

      COLUMNS = ["JOB ID", "CLASS", "STATE", "STEP", "CURSOR", "RESUMED", "LEASE", "UPDATED"].freeze

      def table(out, records)
        if records.empty?
          out.puts "no records"
          return
        end
        now = Time.now
        damaged = records.select { |r| r["damaged"] }
        rows = records.map do |r|
          next [r["job_id"] || "?", "-", "damaged", "-", "-", "-", "-", "-"] if r["damaged"]

          step, = r["current"]
          [r["job_id"], r["job_class"], state(r, now), step || "-", short(r["cursor"]), r["resumptions"].to_s,
           lease(r, now), ago(r["updated_at"], now)]
        end
        widths = COLUMNS.each_index.map { |i| ([COLUMNS[i]] + rows.map { |row| row[i] }).map(&:size).max }
        [COLUMNS, *rows].each { |row| out.puts row.each_with_index.map { |cell, i| cell.ljust(widths[i]) }.join("  ").rstrip }
        damaged.each { |r| out.puts "damaged: #{r["damaged"]}" }
      end

      def show(out, record)
        now = Time.now
        step, = record["current"]
        lines = [
          ["job", "#{record["job_id"]} (#{record["job_class"]})"],
          ["state", state(record, now)],
          ["steps done", record["completed"].empty? ? "none" : record["completed"].join(", ")],
          ["current step", step || "none"],
          ["cursor", record["current"] ? short(record["cursor"], 200) : "-"],
          ["resumptions", record["resumptions"].to_s],
          ["fencing token", record["token"].to_s],
          ["lease", lease(record, now, long: true)],
          ["created", "#{record["created_at"].utc.iso8601} (#{ago(record["created_at"], now)})"],
          ["updated", "#{record["updated_at"].utc.iso8601} (#{ago(record["updated_at"], now)})"],
          ["completed", record["completed_at"] ? record["completed_at"].utc.iso8601 : "-"],
          ["recoveries", "#{record["recoveries"]} in a row at this point"]
        ]
        if record["quarantined_at"]
          lines << ["quarantined", "#{record["quarantined_at"].utc.iso8601}: #{record["quarantine_reason"]} " \
                                   "(holdfast recover #{record["job_id"]} --force runs it again)"]
        end
        lines.concat(payload_lines(record["payload"]))
        width = lines.map { |label, _| label.size }.max
        lines.each { |label, value| out.puts "#{label.ljust(width)}  #{value}" }
      end

      def payload_lines(text)
        return [["payload", "none kept (the job cannot be re-enqueued by recovery)"]] unless text

        payload = parse(text)
        return [["payload", short(text, 200)]] unless payload.is_a?(Hash)

        [["payload", "#{payload["job_class"]} on queue #{payload["queue_name"].inspect}" \
                     "#{" priority #{payload["priority"]}" if payload["priority"]}, " \
                     "executions #{payload["executions"] || 0}, enqueued #{payload["enqueued_at"] || "-"}"],
         ["arguments", short(payload["arguments"], 200)]]
      end

      def locks(out, snapshot)
        busy = snapshot["locks"]
        out.puts "process #{snapshot["pid"]} at #{snapshot["at"]}: " \
                 "#{busy.empty? ? "no lock held or awaited" : "#{busy.size} busy lock#{"s" unless busy.size == 1}"}"
        busy.each do |lock|
          out.puts "  #{lock["lock"]}:"
          lock["entries"].each { |entry| out.puts "    #{Holdfast.describe_lock_entry(entry)}" }
        end
      end

      # "7d", "12h", "30m", "90s" or a number of seconds.
      def seconds(text)
        match = text.to_s.strip.match(/\A(\d+(?:\.\d+)?)\s*([dhms]?)\z/)
        raise Failure.new("#{text.inspect} is not a duration: write 7d, 12h, 30m, 90s or seconds", USAGE) unless match

        Float(match[1]) * { "d" => 86_400, "h" => 3600, "m" => 60, "s" => 1, "" => 1 }.fetch(match[2])
      end

      def lease(record, now, long: false)
        expires = record["lease_expires_at"]
        return "-" unless expires

        left = expires - now
        text = left.positive? ? "#{duration(left)} left" : "ran out #{duration(-left)} ago"
        long ? "#{record["lease_owner"]}, #{text}" : text
      end

      def ago(time, now)
        "#{duration(now - time)} ago"
      end

      def duration(seconds)
        seconds = seconds.round
        return "#{seconds}s" if seconds < 120
        return "#{seconds / 60}m" if seconds < 7200
        return "#{seconds / 3600}h" if seconds < 172_800

        "#{seconds / 86_400}d"
      end

      def short(value, max = 40)
        return "-" if value.nil?

        text = value.is_a?(String) ? value : JSON.generate(value)
        text.size > max ? "#{text[0, max - 1]}…" : text
      end

      def parse(text)
        JSON.parse(text)
      rescue JSON::ParserError
        text
      end
    end
  end
end
