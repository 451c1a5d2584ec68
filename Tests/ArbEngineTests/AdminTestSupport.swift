import ArbTestSupport
import ArbEngine
import Foundation
import Logging
import OrderStateMachine
import Testing

// MARK: - Running the built arbadmin

/// Runs the built `arbadmin` with `arguments`.
func arbadmin(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessOutput {
    try runProduct("arbadmin", arguments, environment: environment, timeoutSeconds: 60)
}

extension ProcessOutput {
    /// The standard error's lines (without the trailing empty one).
    var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }
    var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }

    /// Parses standard output as JSON.
    func json() throws -> Any {
        try JSONSerialization.jsonObject(with: Data(stdout.utf8))
    }

    func jsonArray() throws -> [[String: Any]] {
        try #require(try json() as? [[String: Any]], "not a JSON array of objects: \(stdout.prefix(300))")
    }

    func jsonObject() throws -> [String: Any] {
        try #require(try json() as? [String: Any], "not a JSON object: \(stdout.prefix(300))")
    }

    var summary: String { "exit \(status)\nstdout: \(stdout.prefix(1_500))\nstderr: \(stderr.prefix(1_500))" }
}

/// A JSON value written back with sorted keys: two values are equal when their texts are.
func canonicalJSON(_ value: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
}

/// The bytes of a file (nil when it does not exist): "left untouched" means equal bytes.
func contentsOf(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

// MARK: - Databases from real runs

/// A trader database and its paper venue files, as one directory.
struct DatabaseFiles: Sendable {
    let directory: String
    var db: String { directory + "/arb.db" }

    /// A fresh copy in `destination` (a test that writes must not change a shared fixture).
    func copy(to destination: TemporaryDirectory) throws -> String {
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasSuffix(".db") || name.hasSuffix("-wal") {
            try FileManager.default.copyItem(atPath: directory + "/" + name, toPath: destination.path(name))
        }
        return destination.path("arb.db")
    }
}

/// Shared fixtures, built once per test process under one directory removed at exit.
enum AdminFixtures {
    static let root: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("arbadmin-fixtures-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: AdminFixtures.root) }
        return path
    }()

    /// `arb run --seed 3 --duration 2` on the built-in demo, as an operator would run it.
    static let demoRun = Task<DatabaseFiles, any Error> {
        let directory = root + "/demo"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let run = try runProduct("arb", ["run", "--db", directory + "/arb.db", "--seed", "3", "--duration", "2",
                                         "--log-level", "error"])
        guard run.status == 0 else { throw FixtureError("arb run failed: \(run.stderr)") }
        return DatabaseFiles(directory: directory)
    }

    /// Five executions through the real executor and paper venues, with scripted fates (ids in
    /// this order): 1 hedged, 2 one-sided (b rejected), 3 one-sided by partial fills (6 vs 4),
    /// 4 no fill, 5 one-sided whose cancel keeps failing (left non-terminal for a person). The
    /// alerts are delivered to a file sink by the real dispatcher.
    static let scenarios = Task<DatabaseFiles, any Error> {
        try await executions([
            ScriptedExecution(event: "EV-HEDGED", a: .fill, b: .fill),
            ScriptedExecution(event: "EV-REJECTED", a: .fill, b: .reject("insufficient liquidity")),
            ScriptedExecution(event: "EV-PARTIAL", a: .partial(Quantity(contracts: 6)), b: .partial(Quantity(contracts: 4))),
            ScriptedExecution(event: "EV-NOFILL", a: .rest, b: .rest),
            ScriptedExecution(event: "EV-STUCK", a: .fill, b: .rest, cancelFails: true),
        ], into: "scenarios")
    }

    /// One execution of `ExecutorHarness.candidate(key: event)` with its legs' fates scripted.
    struct ScriptedExecution: Sendable {
        var event: String
        var a: PaperFate
        var b: PaperFate
        var cancelFails = false
    }

    /// Runs `scripted` in order through the real executor and paper venues (opportunity ids 1, 2,
    /// … in that order), delivers every alert to a file sink with the real dispatcher, and leaves
    /// the files, checkpointed, in `root/name`.
    static func executions(_ scripted: [ScriptedExecution], into name: String) async throws -> DatabaseFiles {
        let harness = try await ExecutorHarness(a: .fill, b: .fill)
        for execution in scripted {
            await harness.kalshi.setBehaviour(PaperBehaviour(fateForInstrument: ["K-1": execution.a]))
            await harness.polymarket.setBehaviour(PaperBehaviour(fateForInstrument: ["P-1": execution.b],
                                                                 cancelFails: execution.cancelFails))
            _ = await harness.executor.run(ExecutorHarness.candidate(key: execution.event))
            // Distinct detection times, so `--since` can split them.
            try await Task.sleep(for: .milliseconds(5))
        }
        let sink = FileAlertSink(path: harness.directory.path("alerts.log"))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let dispatcher = AlertDispatcher(outbox: try StoreAlertOutbox(path: harness.directory.path("arb.db")), sinks: [sink],
                                         clock: SystemClock(), logger: logger)
        _ = await dispatcher.drain(timeoutMilliseconds: 2_000)
        await sink.shutdown()
        // Checkpointed into the main files first, so a copy is complete without its WAL and a
        // test can compare a file's bytes before and after a command.
        for file in ["arb.db", "paper-kalshi.db", "paper-polymarket.db"] {
            try Connection(path: harness.directory.path(file), mode: .readWrite).execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
        let directory = root + "/" + name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Copied while the executor is idle: the main file and its WAL are one consistent state.
        for file in try FileManager.default.contentsOfDirectory(atPath: harness.directory.url.path)
        where file.hasSuffix(".db") || file.hasSuffix("-wal") {
            try FileManager.default.copyItem(atPath: harness.directory.path(file), toPath: directory + "/" + file)
        }
        return DatabaseFiles(directory: directory)
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Reading a database directly (the independent side of each check)

func readStore<T>(_ path: String, _ body: (Store) throws -> T) throws -> T {
    try body(try Store(path: path, access: .readOnly))
}

/// The demo config with `replacements` applied to its JSON text, written to `directory`.
func writeConfig(_ directory: TemporaryDirectory, name: String = "config.json", _ replacements: [(String, String)]) throws -> String {
    var json = TraderConfig.demoJSON
    for (from, to) in replacements {
        precondition(json.contains(from), "the demo config has no \(from)")
        json = json.replacingOccurrences(of: from, with: to)
    }
    let path = directory.path(name)
    try json.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

// MARK: - A trader running in the background

/// A built `arb run` started in the background; killed when dropped if still running.
final class BackgroundTrader: @unchecked Sendable {
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    init(_ arguments: [String], directory: TemporaryDirectory) throws {
        process.executableURL = builtProductsDirectory().appendingPathComponent("arb")
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["ARB_CRASH_AT"] = nil
        process.environment = environment
        stdoutPath = directory.path("trader.out")
        stderrPath = directory.path("trader.err")
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// Waits until `condition` holds (polling), at most `timeoutSeconds`.
    func waitFor(timeoutSeconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return false
    }

    /// Waits for the process to end by itself; SIGKILL after `timeoutSeconds`.
    func waitForExit(timeoutSeconds: Double) -> Int32 {
        _ = waitFor(timeoutSeconds: timeoutSeconds) { !process.isRunning }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    func kill9() {
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

// MARK: - RFC 4180

/// Parses CSV text (quoted fields, doubled quotes, CRLF or LF line ends) into records.
func parseCSV(_ text: String) -> [[String]] {
    var records: [[String]] = []
    var record: [String] = []
    var field = ""
    var quoted = false
    var characters = Array(text.unicodeScalars)[...]
    while let c = characters.popFirst() {
        if quoted {
            if c == "\"" {
                if characters.first == "\"" {
                    field.unicodeScalars.append("\"")
                    characters.removeFirst()
                } else {
                    quoted = false
                }
            } else {
                field.unicodeScalars.append(c)
            }
            continue
        }
        switch c {
        case "\"": quoted = true
        case ",":
            record.append(field)
            field = ""
        case "\r":
            continue
        case "\n":
            record.append(field)
            records.append(record)
            record = []
            field = ""
        default:
            field.unicodeScalars.append(c)
        }
    }
    if !field.isEmpty || !record.isEmpty {
        record.append(field)
        records.append(record)
    }
    return records
}
