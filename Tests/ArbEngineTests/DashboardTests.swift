import ArbTestSupport
import ArbEngine
import Foundation
import Logging
@testable import OrderStateMachine
import Synchronization
import Testing
import WSClient

/// A built `arbadmin serve` in the background: its URL from its first line; stopped by SIGTERM.
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    let url: String
    private let output: Pipe

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = builtProductsDirectory().appendingPathComponent("arbadmin")
        process.arguments = ["serve"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first line, read byte by byte (nothing else is read until it is there).
        var line = Data()
        let handle = output.fileHandleForReading
        while let byte = try handle.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line.append(byte) }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("listening on http://") else {
            process.terminate()
            throw FixtureError("arbadmin serve said \(text.debugDescription) first")
        }
        url = String(text.dropFirst("listening on ".count))
    }

    /// SIGTERM, then its exit status.
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { if process.isRunning { process.terminate() } }
}

/// `curl` against the dashboard: the status code and the body.
func fetch(_ url: String, method: String = "GET", body: String? = nil, token: String? = nil,
           maxSeconds: Int = 10) throws -> (status: Int, body: String) {
    var arguments = ["-s", "-S", "--max-time", "\(maxSeconds)", "-X", method, "-w", "\n%{http_code}"]
    if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
    if let body { arguments += ["-H", "Content-Type: application/json", "--data", body] }
    let result = try runExecutable("/usr/bin/curl", arguments + [url], timeoutSeconds: Double(maxSeconds + 10))
    let text = result.stdout
    guard let newline = text.lastIndex(of: "\n"), let status = Int(text[text.index(after: newline)...]) else {
        throw FixtureError("curl \(url): \(result.stderr)")
    }
    return (status, String(text[..<newline]))
}

func jsonObject(_ text: String) -> [String: Any]? {
    try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
}

func jsonArray(_ text: String) -> [[String: Any]]? {
    try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]
}

@Suite("arbadmin serve: the dashboard, its API, its metrics", .serialized, .exclusive)
struct DashboardTests {
    static let token = "0123456789abcdef0123"

    @Test("every route against a database arb run made: the page with the one-sided row first, the detail page, the JSON API, 404s and 400s as JSON, /metrics equal to positions")
    func routes() throws {
        let directory = TemporaryDirectory()
        let (_, db, id) = try AdminCLITests.OperatorUnwind.traded(directory)
        let serve = try ServeProcess(["--db", db, "--listen", "127.0.0.1:0"])
        defer { _ = serve.stop() }

        let page = try fetch(serve.url + "/")
        #expect(page.status == 200 && page.body.contains("<table id=\"one-sided\">") && page.body.contains("data-id=\"\(id)\""), "\(page.body.prefix(3_000))")
        #expect(page.body.contains("arbadmin unwind \(id) --note") && page.body.contains("EventSource('events')"))
        #expect(page.body.contains("<svg id=\"edge-chart\"") && page.body.contains("<svg id=\"exposure-chart\""))
        #expect(!page.body.contains("http://") && !page.body.contains("https://"), "an external asset")
        let detail = try fetch(serve.url + "/opportunities/\(id)")
        #expect(detail.status == 200 && detail.body.contains("Opportunity \(id)") && detail.body.contains("timeline"))
        #expect(try fetch(serve.url + "/opportunities/999999").status == 404)

        let status = try fetch(serve.url + "/api/status")
        #expect(status.status == 200 && jsonObject(status.body) != nil, "\(status.body)")
        let oneSided = try fetch(serve.url + "/api/one-sided")
        let rows = try #require(jsonArray(oneSided.body), "\(oneSided.body)")
        #expect(rows.contains { ($0["id"] as? Int).map(Int64.init) == id }, "\(oneSided.body)")
        let listed = try #require(jsonArray(try fetch(serve.url + "/api/opportunities?limit=3").body))
        #expect(!listed.isEmpty && listed.count <= 3)
        let one = try fetch(serve.url + "/api/opportunities/\(id)")
        #expect(one.status == 200 && (jsonObject(one.body)?["id"] as? Int).map(Int64.init) == id, "\(one.body)")
        for (path, code) in [("/api/opportunities/999999", 404), ("/api/opportunities?state=Sideways", 400),
                             ("/api/opportunities?limit=many", 400), ("/api/opportunities/abc", 400)] {
            let answer = try fetch(serve.url + path)
            #expect(answer.status == code && jsonObject(answer.body)?["error"] is String, "\(path): \(answer.status) \(answer.body)")
        }
        #expect(try fetch(serve.url + "/api/alerts?limit=5").status == 200)

        // /metrics parses as Prometheus text, and its open exposure is what positions and list say.
        let metrics = try fetch(serve.url + "/metrics")
        #expect(metrics.status == 200)
        var exposed = 0.0
        for line in metrics.body.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            #expect(parts.count == 2 && Double(parts[1]) != nil, "not Prometheus text: \(line)")
            if line.hasPrefix("arb_open_exposure_contracts{") { exposed += Double(parts[1]) ?? 0 }
        }
        let positions = try #require(jsonObject(try arbadmin(["positions", "--db", db, "--json"]).stdout))
        // Per instrument, as each opportunity left it (an event's own netting of two opposite
        // exposures is the events section's business, not the per-venue gauge's).
        let instruments = try #require(positions["instruments"] as? [[String: Any]])
        let positionsExposed = instruments.compactMap { ($0["exposed_quantity"] as? String).flatMap(Double.init) }.reduce(0, +)
        #expect(exposed > 0 && abs(exposed - positionsExposed) < 0.001, "metrics \(exposed), positions \(positionsExposed)")
        #expect(serve.stop() == 0, "SIGTERM is a clean stop")
    }

    @Test("actions need the token (403 when none is set, 401 when wrong), then run the arbadmin code: halt, resume, close --flattened; a non-loopback address without a token is refused")
    func actions() throws {
        let directory = TemporaryDirectory()
        let (_, db, id) = try AdminCLITests.OperatorUnwind.traded(directory)
        do {
            let open = try ServeProcess(["--db", db, "--listen", "127.0.0.1:0"])
            defer { _ = open.stop() }
            #expect(try fetch(open.url + "/api/halt", method: "POST", body: #"{"reason": "x"}"#).status == 403)
            #expect(try readStore(db) { try $0.haltState().halted } == false)
        }
        let serve = try ServeProcess(["--db", db, "--listen", "127.0.0.1:0"], environment: ["ARB_DASHBOARD_TOKEN": Self.token])
        defer { _ = serve.stop() }
        #expect(try fetch(serve.url + "/api/halt", method: "POST", body: #"{"reason": "x"}"#).status == 401)
        #expect(try fetch(serve.url + "/api/halt", method: "POST", body: #"{"reason": "x"}"#, token: "wrong-token-0123456789").status == 401)
        #expect(try readStore(db) { try $0.haltState().halted } == false)
        let halted = try fetch(serve.url + "/api/halt", method: "POST", body: #"{"reason": "kalshi maintenance"}"#, token: Self.token)
        #expect(halted.status == 200, "\(halted.body)")
        #expect(try readStore(db) { try $0.haltState() }.reason == "kalshi maintenance")
        #expect(try fetch(serve.url + "/").body.contains("HALTED"))
        #expect(try fetch(serve.url + "/api/resume", method: "POST", token: Self.token).status == 200)
        #expect(try readStore(db) { try $0.haltState().halted } == false)
        #expect(try fetch(serve.url + "/api/halt", method: "POST", body: "{}", token: Self.token).status == 400)

        let closed = try fetch(serve.url + "/api/opportunities/\(id)/close", method: "POST",
                               body: #"{"note": "sold at kalshi by hand", "flattened": true}"#, token: Self.token)
        #expect(closed.status == 200, "\(closed.body)")
        #expect(try readStore(db) { try $0.opportunity(id)?.flattened } == true)
        #expect(!(try fetch(serve.url + "/").body.contains("data-id=\"\(id)\"")))
        #expect(try fetch(serve.url + "/api/opportunities/999999/close", method: "POST", body: #"{"note": "x"}"#, token: Self.token).status == 404)

        // Not loopback: every request needs the token; a browser brings it once as ?token=, then
        // by the cookie it was given (never good for an action).
        let open = try ServeProcess(["--db", db, "--listen", "0.0.0.0:0"], environment: ["ARB_DASHBOARD_TOKEN": Self.token])
        defer { _ = open.stop() }
        let local = open.url.replacingOccurrences(of: "0.0.0.0", with: "127.0.0.1")
        #expect(try fetch(local + "/").status == 401)
        #expect(try fetch(local + "/api/status").status == 401)
        #expect(try fetch(local + "/api/status", token: Self.token).status == 200)
        #expect(try fetch(local + "/?token=wrong-token-0123456789").status == 401)
        let jar = directory.path("cookies")
        let first = try runExecutable("/usr/bin/curl", ["-s", "-c", jar, "-o", "/dev/null", "-w", "%{http_code}", local + "/?token=\(Self.token)"])
        #expect(first.stdout == "200", "\(first.stdout) \(first.stderr)")
        let withCookie = try runExecutable("/usr/bin/curl", ["-s", "-b", jar, "-o", "/dev/null", "-w", "%{http_code}", local + "/fragment"])
        #expect(withCookie.stdout == "200")
        let cookiePost = try runExecutable("/usr/bin/curl", ["-s", "-b", jar, "-X", "POST", "-o", "/dev/null", "-w", "%{http_code}",
                                                              local + "/api/resume"])
        #expect(cookiePost.stdout == "401", "a cookie must never authorize an action")

        let refused = try arbadmin(["serve", "--db", db, "--listen", "0.0.0.0:0"])
        #expect(refused.status == 1 && refused.stderrLines.count == 1 && refused.stderr.contains("ARB_DASHBOARD_TOKEN"), "\(refused.summary)")
        let bad = try arbadmin(["serve", "--db", db, "--listen", "everywhere"])
        #expect(bad.status == 2 && bad.stderr.contains("--listen everywhere is not HOST:PORT"), "\(bad.summary)")
    }

    @Test("/events sends a change when another process commits")
    func events() throws {
        let directory = TemporaryDirectory()
        let (_, db, _) = try AdminCLITests.OperatorUnwind.traded(directory)
        let serve = try ServeProcess(["--db", db, "--listen", "127.0.0.1:0"])
        defer { _ = serve.stop() }
        let stream = Process()
        stream.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        stream.arguments = ["-s", "-N", "--max-time", "4", serve.url + "/events"]
        let pipe = Pipe()
        stream.standardOutput = pipe
        try stream.run()
        Thread.sleep(forTimeInterval: 1.5)
        #expect(try arbadmin(["halt", "--db", db, "--reason", "from another process"]).status == 0)
        stream.waitUntilExit()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.components(separatedBy: "event: change").count - 1 >= 2, "\(text)")
        // SIGTERM with a stream open still stops at once (the stream ends on graceful shutdown).
        let again = Process()
        again.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        again.arguments = ["-s", "-N", "--max-time", "30", serve.url + "/events"]
        again.standardOutput = FileHandle.nullDevice
        try again.run()
        Thread.sleep(forTimeInterval: 0.5)
        let stopping = Date()
        #expect(serve.stop() == 0)
        #expect(Date().timeIntervalSince(stopping) < 10, "serve took \(Date().timeIntervalSince(stopping)) s to stop with a stream open")
        again.waitUntilExit()
    }
}

/// Headless chromium driven over the DevTools protocol: `evaluate` runs JavaScript in the page.
final class HeadlessBrowser: @unchecked Sendable {
    static let path = "/usr/bin/chromium"
    let process = Process()
    let profile = TemporaryDirectory()
    let debuggerURL: String

    init(_ url: String) throws {
        process.executableURL = URL(fileURLWithPath: Self.path)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0", "--remote-allow-origins=*",
                             "--user-data-dir=\(profile.path("profile"))", url]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…" on stderr.
        var text = ""
        let handle = errors.fileHandleForReading
        while !text.contains("DevTools listening on ws://"), let chunk = try handle.read(upToCount: 1), !chunk.isEmpty {
            text += String(decoding: chunk, as: UTF8.self)
            if text.hasSuffix("\n"), text.contains("DevTools listening on ws://") { break }
        }
        while !text.hasSuffix("\n"), let chunk = try handle.read(upToCount: 1), !chunk.isEmpty { text += String(decoding: chunk, as: UTF8.self) }
        guard let range = text.range(of: "ws://127.0.0.1:"), let port = Int(text[range.upperBound...].prefix { $0.isNumber }) else {
            throw FixtureError("chromium did not say where DevTools listens: \(text.suffix(500))")
        }
        // The page's own debugger endpoint.
        var page: String?
        for _ in 0..<50 where page == nil {
            let list = try fetch("http://127.0.0.1:\(port)/json/list")
            page = jsonArray(list.body)?.first { $0["type"] as? String == "page" }?["webSocketDebuggerUrl"] as? String
            if page == nil { Thread.sleep(forTimeInterval: 0.1) }
        }
        guard let page else { throw FixtureError("chromium has no page target") }
        debuggerURL = page
    }

    /// Connects to the page's DevTools endpoint and runs `body` with `evaluate`: a JavaScript
    /// expression (a promise awaited) → its Boolean value, nil when it is not one.
    func drive(_ body: @escaping @Sendable (_ evaluate: (String) async throws -> Bool?) async throws -> Void) async throws {
        let logger = Logger(label: "test.cdp", factory: { _ in SwiftLogNoOpLogHandler() })
        try await WebSocketClient.connect(url: debuggerURL, logger: logger) { inbound, outbound, _ in
            var messages = inbound.messages(maxSize: 1 << 24).makeAsyncIterator()
            var next = 0
            func evaluate(_ expression: String) async throws -> Bool? {
                next += 1
                let request = AdminText.json(["id": next, "method": "Runtime.evaluate",
                                              "params": ["expression": expression, "returnByValue": true, "awaitPromise": true] as [String: Any]])
                try await outbound.writeTextMessage(request)
                while let message = try await messages.next() {
                    guard case .text(let text) = message, let object = jsonObject(text), object["id"] as? Int == next else { continue }
                    return ((object["result"] as? [String: Any])?["result"] as? [String: Any])?["value"] as? Bool
                }
                return nil
            }
            try await body(evaluate)
            try await outbound.close(.normalClosure, reason: nil)
        }
    }

    deinit {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

extension DashboardTests {
    @Test("a real browser (headless chromium): the one-sided row in the rendered DOM; closed from another process it leaves the page within 2 s, no reload (SSE); a dropped stream is said and reconnects; a screenshot under .build/")
    func browser() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: HeadlessBrowser.path),
                     "chromium is not installed: apt-get install chromium (.ci/run installs it)")
        let directory = TemporaryDirectory()
        let (_, db, id) = try AdminCLITests.OperatorUnwind.traded(directory)
        let serve = try ServeProcess(["--db", db, "--listen", "127.0.0.1:0"])
        defer { _ = serve.stop() }

        // The picture the README shows.
        let shot = repositoryRoot + "/.build/dashboard.png"
        try? FileManager.default.removeItem(atPath: shot)
        let screenshot = try runExecutable(HeadlessBrowser.path, ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1000,1500",
                                                                  "--user-data-dir=\(directory.path("shot-profile"))",
                                                                  "--screenshot=\(shot)", serve.url + "/"], timeoutSeconds: 60)
        #expect(screenshot.status == 0 && ((try? FileManager.default.attributesOfItem(atPath: shot)[.size] as? Int) ?? 0) > 10_000,
                "\(screenshot.stderr.suffix(500))")

        let browser = try HeadlessBrowser(serve.url + "/")
        let closedAt = Mutex<Date?>(nil)
        let restarted = Mutex<ServeProcess?>(nil)
        let seenGoneAfter = Mutex<Double?>(nil)
        try await browser.drive { evaluate in
            let row = "document.querySelector('#one-sided tr[data-id=\"\(id)\"]')"
            // Rendered, and the event stream open.
            var ready = false
            for _ in 0..<100 where !ready {
                ready = try await evaluate("\(row) !== null && document.getElementById('live').textContent === 'live'") == true
                if !ready { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(ready, "the page never showed opportunity \(id)'s row with its stream open")
            _ = try await evaluate("window.__unreloaded = true")
            let close = try arbadmin(["close", "\(id)", "--db", db, "--flattened", "--note", "flattened by phone"])
            #expect(close.status == 0, "\(close.summary)")
            let start = Date()
            closedAt.withLock { $0 = start }
            while Date().timeIntervalSince(start) < 5 {
                if try await evaluate("\(row) === null && window.__unreloaded === true") == true {
                    seenGoneAfter.withLock { $0 = Date().timeIntervalSince(start) }
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            // The stream drops (serve stops): the page says so; serve back on the same port: live again.
            #expect(serve.stop() == 0)
            var lost = false
            for _ in 0..<100 where !lost {
                lost = try await evaluate("document.getElementById('live').textContent.indexOf('lost') >= 0") == true
                if !lost { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(lost, "the page did not say its live updates were lost")
            let port = serve.url.split(separator: ":").last.map(String.init) ?? "0"
            let again = try ServeProcess(["--db", db, "--listen", "127.0.0.1:\(port)"])
            restarted.withLock { $0 = again }
            var back = false
            for _ in 0..<150 where !back {
                back = try await evaluate("document.getElementById('live').textContent === 'live'") == true
                if !back { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(back, "the page did not reconnect to serve on the same port")
        }
        _ = restarted.withLock { $0 }?.stop()
        let after = try #require(seenGoneAfter.withLock { $0 }, "the row never left the page")
        #expect(after < 2, "the row left after \(after) s")
    }
}

extension DashboardTests {
    @Test("arb run --metrics-listen: the trader's live counters as Prometheus text while it trades (commit latency, closes by outcome, venue request latency over the wire); loopback only")
    func traderMetrics() throws {
        let directory = TemporaryDirectory()
        let process = Process()
        process.executableURL = builtProductsDirectory().appendingPathComponent("arb")
        process.arguments = ["run", "--demo", "loopback", "--db", directory.path("arb.db"), "--duration", "30", "--seed", "3",
                             "--log-level", "error", "--metrics-listen", "127.0.0.1:0"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() }; process.waitUntilExit() }
        var line = Data()
        while let byte = try errors.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line.append(byte) }
        let text = String(decoding: line, as: UTF8.self)
        try #require(text.hasPrefix("metrics on http://127.0.0.1:"), "the first line was \(text.debugDescription)")
        let url = String(text.dropFirst("metrics on ".count))
        // Scraped until the trader has committed, closed and talked to both venues (a loaded
        // machine starts the loopback exchange slowly).
        func value(_ body: String, _ prefix: String) -> Double {
            body.split(separator: "\n").filter { $0.hasPrefix(prefix) }.compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        }
        var body = ""
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            body = try fetch(url).body
            if value(body, "arb_transition_commit_seconds_count") > 0, value(body, "arb_opportunities_closed_total") > 0,
               value(body, "arb_venue_request_seconds_count") > 0 { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        #expect(value(body, "arb_transition_commit_seconds_count{kind=\"begin\"}") > 0, "\(body.prefix(3_000))")
        #expect(value(body, "arb_opportunities_closed_total") > 0, "\(body.prefix(3_000))")
        #expect(value(body, "arb_venue_request_seconds_count") > 0, "\(body.prefix(3_000))")
        for line in body.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.split(separator: " ").count == 2, "not Prometheus text: \(line)")
        }
        #expect(try fetch(url.replacingOccurrences(of: "/metrics", with: "/other")).status == 404)
        process.terminate()
        process.waitUntilExit()

        let refused = try runProduct("arb", ["run", "--db", directory.path("other.db"), "--metrics-listen", "0.0.0.0:9464"])
        #expect(refused.status != 0 && refused.stderr.contains("--metrics-listen 0.0.0.0:9464 is not 127.0.0.1:PORT"), "\(refused.summary)")
    }
}

extension DashboardTests {
    @Test("the page's own action (token typed in, \"flattened by hand\" on the row) closes it through the API; without the token typed, it is refused and the row stays")
    func pageAction() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: HeadlessBrowser.path), "chromium is not installed")
        let directory = TemporaryDirectory()
        let (_, db, id) = try AdminCLITests.OperatorUnwind.traded(directory)
        let serve = try ServeProcess(["--db", db, "--listen", "127.0.0.1:0"], environment: ["ARB_DASHBOARD_TOKEN": Self.token])
        defer { _ = serve.stop() }
        let browser = try HeadlessBrowser(serve.url + "/")
        let token = Self.token
        let outcome = Mutex<(refusedKeptRow: Bool, gone: Bool)>((false, false))
        try await browser.drive { evaluate in
            let row = "document.querySelector('#one-sided tr[data-id=\"\(id)\"]')"
            var ready = false
            for _ in 0..<100 where !ready {
                ready = try await evaluate("\(row) !== null && document.getElementById('live').textContent === 'live'") == true
                if !ready { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(ready, "the page never showed the row")
            // No token typed: the server refuses, the row stays.
            _ = try await evaluate("window.prompt = function(){ return 'sold by phone'; }; "
                + "arbFlattened(\(id)); new Promise(function(r){ setTimeout(function(){ r(true); }, 500); })")
            let refused = try await evaluate("document.getElementById('action-result').textContent.indexOf('token') >= 0 && \(row) !== null") == true
            // The token typed: the same button closes it, and the row leaves by the live update.
            _ = try await evaluate("document.getElementById('token').value = '\(token)'; true")
            _ = try await evaluate("window.prompt = function(){ return 'sold by phone'; }; arbFlattened(\(id)); true")
            var gone = false
            for _ in 0..<40 where !gone {
                gone = try await evaluate("\(row) === null") == true
                if !gone { try await Task.sleep(for: .milliseconds(100)) }
            }
            outcome.withLock { $0 = (refused, gone) }
        }
        let (refused, gone) = outcome.withLock { $0 }
        #expect(refused, "without the token the action was not refused, or the row left")
        #expect(gone, "the row did not leave after the page's own close")
        #expect(try readStore(db) { try $0.opportunity(id)?.flattened } == true)
        #expect(try readStore(db) { try $0.history(of: id)?.alerts.contains { $0.kind == "operator_note" && $0.text.contains("sold by phone") } } == true)
    }
}

extension DashboardTests {
    @Test("an empty database: the page says there is no exposure, the API answers empty lists, the metrics zero")
    func emptyDatabase() throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        _ = try Store(path: db, durability: .normal)
        let serve = try ServeProcess(["--db", db, "--listen", "127.0.0.1:0"])
        defer { _ = serve.stop() }
        let page = try fetch(serve.url + "/")
        #expect(page.status == 200 && page.body.contains("id=\"no-exposure\"") && page.body.contains("trader: none running"), "\(page.body.prefix(2_000))")
        #expect(jsonArray(try fetch(serve.url + "/api/one-sided").body)?.isEmpty == true)
        #expect(jsonArray(try fetch(serve.url + "/api/opportunities").body)?.isEmpty == true)
        let metrics = try fetch(serve.url + "/metrics").body
        #expect(metrics.contains("arb_open_exposure_usd{venue=\"kalshi\"} 0"), "\(metrics)")
        let missing = try arbadmin(["serve", "--db", directory.path("none.db"), "--listen", "127.0.0.1:0"])
        #expect(missing.status == 1 && missing.stderrLines.count == 1 && missing.stderr.contains("none.db"), "\(missing.summary)")
    }
}
