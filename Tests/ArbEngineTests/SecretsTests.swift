import ArbEngine
import Foundation
import OrderStateMachine
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

/// Issue 5, item 5: the trader's files are private to the user, and a webhook URL — which usually
/// is the credential — is never printed, logged or stored, only its redacted form.
@Suite("Secrets and files", .serialized)
struct SecretsTests {
    static let secretURL = "http://user:SECRETPASS@127.0.0.1:1/hook/SECRETTOKEN?key=SECRETQUERY"

    @Test("under umask 000, the database, its -wal/-shm, the paper venue files and the alert log are created 0600 (the alert directory 0700)")
    func privateFiles() throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        // umask 000 would give SQLite's default 0644 (and FileManager's 0777) to anything not
        // created private on purpose.
        let arb = builtProductsDirectory().appendingPathComponent("arb").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", #"umask 000 && exec "$0" run --db "$1" --seed 5 --duration 2 --log-level error"#, arb, db]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        #expect(waitForLease(db) != nil, "the trader did not start")
        // While it trades, with every connection open: the -wal and -shm exist.
        usleep(700_000)
        let live = ["arb.db", "arb.db-wal", "arb.db-shm", "paper-kalshi.db", "paper-kalshi.db-wal", "paper-kalshi.db-shm",
                    "paper-polymarket.db", "paper-polymarket.db-wal", "paper-polymarket.db-shm"]
        for name in live {
            #expect(permissions(directory.path(name)) == 0o600, "\(name): \(permissions(directory.path(name)).map { String($0, radix: 8) } ?? "missing")")
        }
        #expect(waitForExit(process, seconds: 20))
        #expect(process.terminationStatus == 0)
        #expect(permissions(directory.path("data/alerts.log")) == 0o600, "the run raised no alert, or the log is not private")
        #expect(permissions(directory.path("data")) == 0o700)
        // Nothing in the directory is readable by others.
        for (name, entry) in DirectorySnapshot(directory.url.path).files {
            #expect(entry.mode & 0o077 == 0, "\(name) is \(String(entry.mode, radix: 8))")
        }
    }

    @Test("a webhook URL from ARB_WEBHOOK_URL (an unreachable local port) never appears on stdout, stderr or in any file, even at trace level")
    func webhookTokenFromEnvironment() throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let result = try runBuilt("arb", ["run", "--db", db, "--seed", "5", "--duration", "1.5", "--log-level", "trace"],
                                  environment: ["ARB_WEBHOOK_URL": Self.secretURL], timeoutSeconds: 60)
        try expectRedacted(result, directory: directory, excluding: [])
    }

    @Test("the same URL from a 0600 config file: the config holds it, nothing else does")
    func webhookTokenFromConfig() throws {
        let directory = TemporaryDirectory()
        let config = directory.path("config.json")
        let json = demoJSON(replacing: #""console": false"#, with: #""console": false, "webhook_url": "\#(Self.secretURL)""#)
        #expect(FileManager.default.createFile(atPath: config, contents: Data(json.utf8), attributes: [.posixPermissions: 0o600]))
        let result = try runBuilt("arb", ["run", "--config", config, "--db", directory.path("arb.db"), "--seed", "5",
                                          "--duration", "1.5", "--log-level", "trace"], timeoutSeconds: 60)
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
