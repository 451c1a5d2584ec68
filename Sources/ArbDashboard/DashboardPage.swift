import ArbEngine
import OrderStateMachine

/// The dashboard's HTML: server-rendered, no external assets, readable on a phone. Every value
/// from the database passes through `escape`.
enum DashboardPage {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static let style = """
        body{font:14px/1.4 system-ui,sans-serif;margin:0;padding:12px;color:#111;background:#fafafa}
        h1{font-size:18px;margin:0 0 8px}h2{font-size:16px;margin:18px 0 6px}
        table{border-collapse:collapse;width:100%;background:#fff;margin-bottom:8px}
        th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
        th{background:#f0f0f0}.num{text-align:right;font-variant-numeric:tabular-nums}
        .bad{color:#b00020;font-weight:600}.ok{color:#08660b}.muted{color:#666}
        .banner{padding:6px 10px;margin:6px 0;border-radius:4px}
        .warn{background:#fff3cd;border:1px solid #e0c36c}.alarm{background:#fde2e1;border:1px solid #e0908a}
        code,pre{font:12px ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}
        .wrap{overflow-x:auto}svg{background:#fff;border:1px solid #ddd;max-width:100%;height:auto}
        #live{position:fixed;top:6px;right:8px;font-size:12px}.flatten{display:none}
        """

    /// The whole page: the live part (`body`) and the script that keeps it live.
    static func page(title: String, body: String, live: Bool, actions: Bool = false) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title><style>\(style)</style></head>
        <body><div id="live" class="muted">\(live ? "connecting…" : "")</div>
        \(actions ? actionsBar : "")
        <main id="main">\(body)</main>
        \(live ? script : "")\(actions ? actionsScript : "")
        </body></html>
        """
    }

    /// Server-Sent Events: on each `change` the live part is fetched again and swapped in; a
    /// dropped stream is said on the page, and `EventSource` reconnects by itself.
    static let script = """
        <script>
        (function(){
          var live=document.getElementById('live');
          var source=new EventSource('events');
          source.addEventListener('open',function(){live.textContent='live';live.className='ok';});
          source.addEventListener('error',function(){live.textContent='live updates lost — reconnecting…';live.className='bad';});
          source.addEventListener('change',function(){
            fetch('fragment',{cache:'no-store'}).then(function(r){return r.ok?r.text():null;}).then(function(html){
              if(html!==null){document.getElementById('main').innerHTML=html;}
            });
          });
        })();
        </script>
        """

    /// With `ARB_DASHBOARD_TOKEN` set: the token field (kept in this tab's sessionStorage only)
    /// and halt/resume; each one-sided row gets a "flattened by hand" button. Every action is a
    /// POST with `Authorization: Bearer …` to the JSON API, so the server checks it as any client.
    static let actionsBar = """
        <style>.flatten{display:inline-block}</style>
        <form id="actions" class="banner warn" onsubmit="return false">
        token <input id="token" type="password" autocomplete="off" size="24">
        <input id="reason" placeholder="why (halt reason)" size="24">
        <button type="button" onclick="arbAct('api/halt',{reason:document.getElementById('reason').value})">halt</button>
        <button type="button" onclick="arbAct('api/resume',{})">resume</button>
        <span id="action-result" class="muted"></span></form>
        """

    static let actionsScript = """
        <script>
        (function(){
          var token=document.getElementById('token');
          token.value=sessionStorage.getItem('arb-token')||'';
          token.addEventListener('change',function(){sessionStorage.setItem('arb-token',token.value);});
          window.arbAct=function(path,body){
            var result=document.getElementById('action-result');
            return fetch(path,{method:'POST',headers:{'Authorization':'Bearer '+token.value,'Content-Type':'application/json'},
                               body:JSON.stringify(body)})
              .then(function(r){return r.json().then(function(j){result.textContent=r.ok?'done':(j.error||r.status);});})
              .catch(function(e){result.textContent='failed: '+e;});
          };
          window.arbFlattened=function(id){
            var note=window.prompt('Flattened by hand: what did you do?');
            if(note){arbAct('api/opportunities/'+id+'/close',{note:note,flattened:true});}
          };
        })();
        </script>
        """

    // MARK: - The main page

    static func main(_ snapshot: DashboardSnapshot) -> String {
        [header(snapshot), positions(snapshot), charts(snapshot), recent(snapshot), alerts(snapshot)].joined(separator: "\n")
    }

    static func header(_ snapshot: DashboardSnapshot) -> String {
        let status = snapshot.status
        let now = snapshot.now
        var parts = ["<h1>arb — \(escape(status.databasePath))</h1>"]
        if let lease = status.lease, let standing = status.leaseStanding {
            let alive = standing == .live
            parts.append("<div class=\"banner \(alive ? "" : "alarm")\" id=\"lease\">trader: \(escape(LeaseStanding.describe(lease, now: now))) "
                + "<b class=\"\(alive ? "ok" : "bad")\">\(escape(standing.rawValue))</b></div>")
        } else {
            parts.append("<div class=\"banner warn\" id=\"lease\">trader: none running</div>")
        }
        if status.halt.halted {
            parts.append("<div class=\"banner alarm\" id=\"halt\"><b>HALTED</b>: \(escape(status.halt.reason ?? "")) — <code>arbadmin resume</code></div>")
        } else {
            parts.append("<div class=\"banner\" id=\"halt\">not halted</div>")
        }
        for (event, reason) in status.blockedMarkets.sorted(by: { $0.key < $1.key }) {
            parts.append("<div class=\"banner alarm\">market \(escape(event)) blocked: \(escape(reason)) — <code>arbadmin resume --market \(escape(event))</code></div>")
        }
        if !status.bookFeeds.isEmpty {
            let feeds = status.bookFeeds.map { feed in
                let trusted = feed.markets.filter(\.trusted).count
                return "\(escape(feed.venue)) \(feed.connected ? "connected" : "<b class=\"bad\">disconnected</b>"), books trusted \(trusted)/\(feed.markets.count)"
            }
            parts.append("<div class=\"banner\" id=\"books\">\(feeds.joined(separator: "; "))</div>")
        }
        parts.append("<div class=\"muted\">\(status.undeliveredAlerts) alerts undelivered · as of \(escape(Timestamp.iso8601(now)))</div>")
        return parts.joined(separator: "\n")
    }

    static func positions(_ snapshot: DashboardSnapshot) -> String {
        var html = "<h2>One-sided positions (\(snapshot.positions.count))</h2>"
        guard !snapshot.positions.isEmpty else { return html + "<p class=\"ok\" id=\"no-exposure\">No open one-sided exposure.</p>" }
        html += "<div class=\"wrap\"><table id=\"one-sided\"><tr><th>#</th><th>event</th><th>venue</th><th>outcome</th>"
            + "<th class=\"num\">contracts</th><th class=\"num\">cost</th><th class=\"num\">worst case</th><th>age</th><th>unwind</th><th>act</th></tr>"
        for position in snapshot.positions {
            let opportunity = position.summary.opportunity
            let id = opportunity.id
            let unwind = opportunity.state == .unwinding ? "unwinding"
                : position.summary.unwound.isZero ? "none" : "\(position.summary.unwound) taken back, then gave up"
            html += "<tr data-id=\"\(id)\"><td><a href=\"opportunities/\(id)\">\(id)</a></td><td>\(escape(opportunity.eventID))</td>"
                + "<td>\(escape(position.venue))</td><td>\(escape(position.outcome))</td>"
                + "<td class=\"num\">\(position.exposure.exposed)</td><td class=\"num\">\(position.exposure.atRisk)</td>"
                + "<td class=\"num bad\">-\(position.exposure.atRisk)</td><td>\(escape(AdminText.age(opportunity.createdAtMilliseconds, now: snapshot.now)))</td>"
                + "<td>\(escape(unwind))</td>"
                + "<td><code>arbadmin unwind \(id) --note …</code><br><code>arbadmin close \(id) --flattened --note …</code>"
                + "<br><button type=\"button\" class=\"flatten\" onclick=\"arbFlattened(\(id))\">flattened by hand…</button></td></tr>"
        }
        return html + "</table></div>"
    }

    static func recent(_ snapshot: DashboardSnapshot) -> String {
        var html = "<h2>Recent opportunities</h2><div class=\"wrap\"><table id=\"recent\"><tr><th>#</th><th>event</th><th>state</th>"
            + "<th class=\"num\">edge</th><th class=\"num\">hedged</th><th class=\"num\">exposed</th><th>age</th></tr>"
        for row in snapshot.recent {
            let opportunity = row.opportunity
            let exposure = Exposure(row)
            html += "<tr><td><a href=\"opportunities/\(opportunity.id)\">\(opportunity.id)</a></td><td>\(escape(opportunity.eventID))</td>"
                + "<td>\(escape(opportunity.state.description))</td><td class=\"num\">\(opportunity.edgeBps) bps</td>"
                + "<td class=\"num\">\(exposure.hedged)</td><td class=\"num\">\(exposure.exposed)</td>"
                + "<td>\(escape(AdminText.age(opportunity.createdAtMilliseconds, now: snapshot.now)))</td></tr>"
        }
        return html + "</table></div>"
    }

    static func alerts(_ snapshot: DashboardSnapshot) -> String {
        var html = "<h2>Alerts</h2><div class=\"wrap\"><table id=\"alerts\"><tr><th>#</th><th>kind</th><th>text</th><th>delivery</th></tr>"
        for alert in snapshot.alerts {
            html += "<tr><td>\(alert.id)</td><td>\(escape(alert.kind)) (\(escape(alert.severity.rawValue)))</td>"
                + "<td><pre>\(escape(alert.text))</pre></td><td>\(escape(AlertListing.deliveryText(alert, now: snapshot.now)))</td></tr>"
        }
        return html + "</table></div>"
    }

    // MARK: - Charts (server-side SVG)

    static func charts(_ snapshot: DashboardSnapshot) -> String {
        "<h2>Last 24 hours</h2>"
            + chart(id: "edge-chart", title: "cumulative net edge captured", points: snapshot.edge, now: snapshot.now)
            + chart(id: "exposure-chart", title: "open one-sided exposure (by when it arose)", points: snapshot.exposure, now: snapshot.now)
    }

    /// A step line over the last 24 h; the y axis spans zero and the extremes.
    static func chart(id: String, title: String, points: [DashboardSnapshot.Point], now: Int64) -> String {
        let width = 600.0, height = 140.0, pad = 24.0
        let start = now - DashboardSnapshot.day
        let values = points.map { Double($0.value.micros) / 1_000_000 }
        let low = min(0, values.min() ?? 0), high = max(0.01, values.max() ?? 0)
        func x(_ at: Int64) -> Double { pad + (width - 2 * pad) * Double(max(0, at - start)) / Double(DashboardSnapshot.day) }
        func y(_ value: Double) -> Double { height - pad - (height - 2 * pad) * (value - low) / (high - low) }
        var path = "M\(x(start)),\(y(0))"
        var last = 0.0
        for (point, value) in zip(points, values) {
            path += " L\(x(point.atMilliseconds)),\(y(last)) L\(x(point.atMilliseconds)),\(y(value))"
            last = value
        }
        path += " L\(x(now)),\(y(last))"
        let latest = points.last?.value ?? .zero
        return """
            <svg id="\(id)" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" role="img" aria-label="\(escape(title))">
            <text x="\(pad)" y="14" font-size="12">\(escape(title)): \(escape(latest.description))</text>
            <line x1="\(pad)" y1="\(y(0))" x2="\(width - pad)" y2="\(y(0))" stroke="#bbb"/>
            <path d="\(path)" fill="none" stroke="#1565c0" stroke-width="2"/>
            <text x="\(pad)" y="\(height - 6)" font-size="10" fill="#666">24 h ago</text>
            <text x="\(width - pad - 24)" y="\(height - 6)" font-size="10" fill="#666">now</text>
            </svg>
            """
    }

    // MARK: - One opportunity

    static func detail(_ history: OpportunityHistory, now: Int64) -> String {
        let id = history.opportunity.id
        return "<p><a href=\"../\">← all</a></p><h1>Opportunity \(id)</h1>"
            + "<pre id=\"show\">\(escape(OpportunityReport.text(history, now: now).joined(separator: "\n")))</pre>"
    }
}
