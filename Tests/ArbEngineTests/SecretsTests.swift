import ArbTestSupport
import ArbEngine
import Foundation
@testable import OrderStateMachine
import Testing

/// Permission bits of a path (nil when it does not exist).
func permissions(_ path: String) -> Int? {
    (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int
}

/// Every file under `directory` (relative path) whose bytes contain `needle`, except `excluding`.
func filesContaining(_ needle: String, under directory: String, excluding: Set<String> = []) -> [String] {
    DirectorySnapshot(directory, ignoring: { excluding.contains($0) }).files
        .filter { $0.value.bytes.range(of: Data(needle.utf8)) != nil }.keys.sorted()
}

/// The demo with kalshi filling every order and polymarket refusing every one: every opportunity
/// ends one-sided and raises alerts, whatever the real-time pacing of the demo quotes.
func oneSidedDemoJSON(sourceLocation: SourceLocation = #_sourceLocation) -> String {
    var json = TraderConfig.demoJSON
    let outcomes = #""full_fill_percent": 66,\s*"partial_fill_percent": 12,\s*"rest_percent": 12,\s*"reject_percent": 6,\s*"ambiguous_submit_percent": 4,"#
    for (full, reject) in [(100, 0), (0, 100)] {
        guard let range = json.range(of: outcomes, options: .regularExpression) else {
            Issue.record("the demo's fill models changed", sourceLocation: sourceLocation)
            return json
        }
        json.replaceSubrange(range, with: #""full_fill_percent": \#(full), "partial_fill_percent": 0, "rest_percent": 0, "reject_percent": \#(reject), "ambiguous_submit_percent": 0,"#)
    }
    return json
}

/// Issue 5, item 5: the trader's files are private to the user, and a webhook URL — which usually
/// is the credential — is never printed, logged or stored, only its redacted form.
@Suite("Secrets and files", .serialized, .exclusive)
struct SecretsTests {
    static let secretURL = "http://user:SECRETPASS@127.0.0.1:1/hook/SECRETTOKEN?key=SECRETQUERY"

    @Test("under umask 000, the database, its -wal/-shm, the paper venue files and the alert log are created 0600 (the alert directory 0700)")
    func privateFiles() async throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let config = directory.path("one-sided.json")
        try oneSidedDemoJSON().write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o600)
        // umask 000 would give SQLite's default 0644 (and FileManager's 0777) to anything not
        // created private on purpose.
        let arb = builtProductsDirectory().appendingPathComponent("arb").path
        // A long run, stopped by SIGTERM once the files are seen: a loaded machine cannot make the
        // trader finish before this test has looked.
        let trader = try startProcess("/bin/sh", ["-c", #"umask 000 && exec "$0" run --config "$1" --db "$2" --duration 60 --log-level error"#,
                                                  arb, config, db])
        #expect(await leaseHolder(of: db) != nil, "the trader did not start")
        // While it trades, with every connection open, the -wal and -shm files exist (each soon
        // after its file's first write).
        let live = ["arb.db", "arb.db-wal", "arb.db-shm", "paper-kalshi.db", "paper-kalshi.db-wal", "paper-kalshi.db-shm",
                    "paper-polymarket.db", "paper-polymarket.db-wal", "paper-polymarket.db-shm"]
        var missing = live
        let deadline = Date().addingTimeInterval(8)
        while !missing.isEmpty, trader.isRunning, Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
            missing = live.filter { permissions(directory.path($0)) == nil }
        }
        #expect(missing.isEmpty, "never seen while trading: \(missing)")
        for name in live {
            #expect(permissions(directory.path(name)) == 0o600, "\(name): \(permissions(directory.path(name)).map { String($0, radix: 8) } ?? "missing")")
        }
        // The opening one-sided alert is in the log before the trader is stopped.
        _ = await waitUntil(timeoutSeconds: 30) { permissions(directory.path("data/alerts.log")) != nil }
        kill(trader.pid, SIGTERM)
        let result = try await trader.wait(seconds: 30)
        #expect(result.status == 0 && !result.terminatedBySignal, "\(result.stderr.suffix(500))")
        #expect(permissions(directory.path("data/alerts.log")) == 0o600, "the run raised no alert, or the log is not private")
        #expect(permissions(directory.path("data")) == 0o700)
        // Nothing in the directory is readable by others.
        for (name, entry) in DirectorySnapshot(directory.url.path).files {
            #expect(entry.mode & 0o077 == 0, "\(name) is \(String(entry.mode, radix: 8))")
        }
    }

    @Test("a webhook URL from ARB_WEBHOOK_URL (an unreachable local port) never appears on stdout, stderr or in any file, even at trace level")
    func webhookTokenFromEnvironment() async throws {
        let directory = TemporaryDirectory()
        let config = directory.path("one-sided.json")
        try oneSidedDemoJSON().write(toFile: config, atomically: true, encoding: .utf8)
        let result = try await runBuilt("arb", ["run", "--config", config, "--db", directory.path("arb.db"), "--duration", "1",
                                                "--log-level", "trace"],
                                        environment: ["ARB_WEBHOOK_URL": Self.secretURL], timeoutSeconds: 60)
        try expectRedacted(result, directory: directory, excluding: [])
    }

    @Test("the same URL from a 0600 config file: the config holds it, nothing else does")
    func webhookTokenFromConfig() async throws {
        let directory = TemporaryDirectory()
        let config = directory.path("config.json")
        let json = oneSidedDemoJSON().replacingOccurrences(
            of: #""console": false"#, with: #""console": false, "webhook_url": "\#(Self.secretURL)""#)
        #expect(FileManager.default.createFile(atPath: config, contents: Data(json.utf8), attributes: [.posixPermissions: 0o600]))
        let result = try await runBuilt("arb", ["run", "--config", config, "--db", directory.path("arb.db"), "--duration", "1",
                                                "--log-level", "trace"], timeoutSeconds: 60)
        try expectRedacted(result, directory: directory, excluding: ["config.json"])
    }

    /// The run finished, tried the webhook (the delivery failed with the redacted URL recorded),
    /// and no part of the secret is anywhere but where the user put it.
    func expectRedacted(_ result: ProcessOutput, directory: TemporaryDirectory, excluding: Set<String>,
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        expectNoTrap(result, sourceLocation: sourceLocation)
        #expect(result.status == 0, "\(result.stderr.suffix(500))", sourceLocation: sourceLocation)
        for secret in ["SECRETPASS", "SECRETTOKEN", "SECRETQUERY", "user:"] {
            #expect(!result.stdout.contains(secret), "stdout shows \(secret)", sourceLocation: sourceLocation)
            #expect(!result.stderr.contains(secret), "stderr shows \(secret)", sourceLocation: sourceLocation)
            let leaks = filesContaining(secret, under: directory.url.path, excluding: excluding)
            #expect(leaks.isEmpty, "\(secret) is in \(leaks)", sourceLocation: sourceLocation)
        }
        // The webhook was really tried: without an attempt, the checks above prove nothing.
        let store = try Store(path: directory.path("arb.db"), access: .readOnly)
        let errors = try store.connection.prepare(
            "SELECT last_error FROM alert_deliveries WHERE sink = 'webhook' AND last_error IS NOT NULL"
        ).query { $0.text(0) }
        #expect(!errors.isEmpty, "no webhook delivery was attempted", sourceLocation: sourceLocation)
        #expect(errors.allSatisfy { $0.contains("http://REDACTED@127.0.0.1:1/hook/REDACTED?REDACTED") }, "\(errors.prefix(2))",
                sourceLocation: sourceLocation)
        #expect(result.stderr.contains("127.0.0.1:1/hook/REDACTED"), "the failure is logged, redacted", sourceLocation: sourceLocation)
    }
}
