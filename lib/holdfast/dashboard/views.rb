# frozen_string_literal: true

require "erb"
require "json"

module Holdfast
  class Dashboard
    # The dashboard's pages: HTML with its style inline (no assets, no
    # scripts: the page works offline and under a strict CSP), every value
    # escaped, one column on a phone.
    module Views
      module_function

      Records = CLI::Records

      STYLE = <<~CSS
        body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d232b; background: #f6f7f9; }
        header { background: #16324f; color: #fff; padding: .7rem 1rem; display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; align-items: baseline; }
        header strong { font-size: 1.1rem; }
        header a { color: #cfe3ff; text-decoration: none; }
        header a.current { color: #fff; font-weight: 600; border-bottom: 2px solid #fff; }
        main { padding: 1rem; max-width: 72rem; }
        .notice { background: #e3f4e6; border: 1px solid #9bd3a5; padding: .5rem .8rem; margin-bottom: 1rem; }
        .summary { display: flex; flex-wrap: wrap; gap: .6rem 1rem; align-items: center; margin-bottom: 1rem; }
        .table { overflow-x: auto; background: #fff; border: 1px solid #dde1e6; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid #eceff2; white-space: nowrap; }
        td.cursor { max-width: 16rem; overflow: hidden; text-overflow: ellipsis; font-family: ui-monospace, monospace; }
        .state { padding: .1rem .45rem; border-radius: .6rem; font-size: .85rem; }
        .running { background: #e2efff; } .orphaned { background: #ffe0e0; color: #8a1010; font-weight: 600; }
        .damaged, .quarantined { background: #fff0c2; color: #6b4a00; font-weight: 600; }
        .queued { background: #fff4d6; } .completed { background: #e3f4e6; }
        dl { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1rem; background: #fff; padding: 1rem; border: 1px solid #dde1e6; }
        dt { color: #56606b; } dd { margin: 0; overflow-wrap: anywhere; }
        pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
        button { font: inherit; padding: .35rem .9rem; border-radius: .3rem; border: 1px solid #16324f; background: #16324f; color: #fff; }
        button.danger { background: #a11616; border-color: #a11616; }
        @media (max-width: 40rem) { main { padding: .6rem; } dl { grid-template-columns: 1fr; } dt { font-weight: 600; } }
      CSS

      def h(value)
        ERB::Util.html_escape(value.to_s)
      end

      def layout(title, body, request, notice: nil, current: nil)
        base = request.script_name
        nav = [["", "In flight"], ["/completed", "Completed"], ["/locks", "Locks"]].map do |path, label|
          %(<a href="#{h(base)}#{path}/"#{' class="current"' if current == path}>#{label}</a>)
        end
        <<~HTML
          <!DOCTYPE html>
          <html lang="en"><head><meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <title>#{h(title)} · Holdfast</title><style>#{STYLE}</style></head>
          <body><header><strong>Holdfast</strong>#{nav.join}</header>
          <main>#{%(<p class="notice" role="status">#{h(notice)}</p>) if notice}
          <h1>#{h(title)}</h1>
          #{body}</main></body></html>
        HTML
      end

      def form(request, path, label, token, css: nil)
        %(<form method="post" action="#{h(request.script_name)}#{h(path)}">) +
          %(<input type="hidden" name="#{CSRF_FIELD}" value="#{h(token)}">) +
          %(<button type="submit"#{%( class="#{css}") if css}>#{h(label)}</button></form>)
      end

      def jobs(records, which, request, token, notice)
        now = Time.now
        orphans = records.count { |r| Records.state(r, now) == "orphaned" }
        summary = if which == :completed
                    "<p>#{records.size} completed job#{"s" unless records.size == 1} (newest first)</p>"
                  else
                    %(<div class="summary"><span>#{records.size} in flight, ) +
                      %(<strong>#{orphans} orphaned</strong> (their worker died)</span>) +
                      "#{form(request, "/recover", "Recover orphans now", token) if orphans.positive?}</div>"
                  end
        title = which == :completed ? "Completed jobs" : "Jobs in flight"
        layout(title, summary + table(records, request, now), request, notice: notice,
                                                                       current: which == :completed ? "/completed" : "")
      end

      def table(records, request, now)
        return "<p>None.</p>" if records.empty?

        rows = records.map do |r|
          next damaged_row(r) if r["damaged"]

          state = Records.state(r, now)
          step, = r["current"]
          link = "#{request.script_name}/jobs/#{Rack::Utils.escape_path(r["job_id"])}"
          "<tr><td><a href=\"#{h(link)}\">#{h(r["job_id"])}</a></td><td>#{h(r["job_class"])}</td>" \
            "<td><span class=\"state #{state}\">#{state}</span></td><td>#{h(step || "-")}</td>" \
            "<td class=\"cursor\">#{h(Records.short(r["cursor"]))}</td><td>#{r["resumptions"]}</td>" \
            "<td>#{h(Records.lease(r, now))}</td><td>#{h(Records.ago(r["updated_at"], now))}</td></tr>"
        end
        '<div class="table"><table><thead><tr><th>Job</th><th>Class</th><th>State</th><th>Step</th><th>Cursor</th>' \
          "<th>Resumed</th><th>Lease</th><th>Updated</th></tr></thead><tbody>#{rows.join}</tbody></table></div>"
      end

      # A record that failed its integrity check: named, never linked to a
      # page that would only raise CorruptStoreError.
      def damaged_row(record)
        "<tr><td>#{h(record["job_id"] || "?")}</td><td>-</td><td><span class=\"state damaged\">damaged</span></td>" \
          "<td colspan=\"5\">#{h(record["damaged"])}</td></tr>"
      end

      def job(record, request, token, notice)
        now = Time.now
        step, = record["current"]
        payload = record["payload"] && Records.parse(record["payload"])
        fields = [
          ["State", %(<span class="state #{Records.state(record, now)}">#{Records.state(record, now)}</span>)],
          ["Class", h(record["job_class"])],
          ["Steps done", h(record["completed"].empty? ? "none" : record["completed"].join(", "))],
          ["Current step", h(step || "none")],
          ["Cursor", "<pre>#{h(record["current"] ? JSON.generate(record["cursor"]) : "-")}</pre>"],
          ["Resumptions", h(record["resumptions"])],
          ["Fencing token", h(record["token"])],
          ["Lease", h(Records.lease(record, now, long: true))],
          ["Created", h("#{record["created_at"].utc.iso8601} (#{Records.ago(record["created_at"], now)})")],
          ["Updated", h("#{record["updated_at"].utc.iso8601} (#{Records.ago(record["updated_at"], now)})")],
          ["Completed", h(record["completed_at"]&.utc&.iso8601 || "-")],
          ["Payload", payload ? "<pre>#{h(JSON.pretty_generate(payload))}</pre>" : "none kept"]
        ]
        list = "<dl>#{fields.map { |label, html| "<dt>#{label}</dt><dd>#{html}</dd>" }.join}</dl>"
        action = "<p>#{form(request, "/jobs/#{Rack::Utils.escape_path(record["job_id"])}/discard",
                            "Discard this record", token, css: "danger")}</p>"
        layout("Job #{record["job_id"]}", list + action, request, notice: notice)
      end

      def locks(busy, request, _token)
        body = if busy.empty?
                 "<p>No lock is held or awaited in this process (pid #{Process.pid}).</p>"
               else
                 busy.map do |lock|
                   items = lock["entries"].map { |entry| "<li>#{h(Holdfast.describe_lock_entry(entry))}</li>" }
                   "<h2>#{h(lock["lock"])}</h2><ul>#{items.join}</ul>"
                 end.join
               end
        layout("Locks in process #{Process.pid}", body, request, current: "/locks")
      end

      def error(title, message, request)
        layout(title, "<p>#{h(message)}</p>", request)
      end
    end
  end
end
