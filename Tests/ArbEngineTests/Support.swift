import Testing
import Foundation

/// A fresh directory under the system temp dir, removed when the value is dropped.
final class TemporaryDirectory: @unchecked Sendable {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("arb-engine-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

struct ProcessOutput: Sendable {
    var status: Int32
    var terminatedBySignal: Bool
    var stdout: String
    var stderr: String
}

/// The directory holding the built executables (the test bundle sits beside them).
func builtProductsDirectory() -> URL {
    var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("arb").path), directory.path != "/" {
        directory = directory.deletingLastPathComponent()
    }
    return directory
}

/// Runs a built product to its end (or until `timeoutSeconds`, then SIGKILL) and collects its output.
func runProduct(_ name: String, _ arguments: [String], environment: [String: String] = [:],
                currentDirectory: String? = nil, timeoutSeconds: Double = 120) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = builtProductsDirectory().appendingPathComponent(name)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env["ARB_CRASH_AT"] = nil
    for (key, value) in environment { env[key] = value }
    process.environment = env
    if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
    let outFile = FileManager.default.temporaryDirectory.appendingPathComponent("arb-out-\(UUID().uuidString)")
    let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("arb-err-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outFile)
        try? FileManager.default.removeItem(at: errFile)
    }
    process.standardOutput = try FileHandle(forWritingTo: outFile)
    process.standardError = try FileHandle(forWritingTo: errFile)
    try process.run()
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while process.isRunning {
        if Date() > deadline { kill(process.processIdentifier, SIGKILL) }
        usleep(10_000)
    }
    return ProcessOutput(
        status: process.terminationStatus,
        terminatedBySignal: process.terminationReason == .uncaughtSignal,
        stdout: (try? String(contentsOf: outFile, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOf: errFile, encoding: .utf8)) ?? "")
}

/// One at a time: tests that spawn `arb` processes, and tests whose assertions are about timing,
/// never overlap, so a 2-core machine running the whole suite does not starve a timing test.
actor ExclusiveGate {
    static let shared = ExclusiveGate()
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if !busy {
            busy = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
    }
}

struct ExclusiveTrait: TestTrait, SuiteTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        // Suites are scoped too; only individual tests take the gate.
        guard testCase != nil || !test.isSuite else { return try await function() }
        await ExclusiveGate.shared.acquire()
        do {
            try await function()
        } catch {
            await ExclusiveGate.shared.release()
            throw error
        }
        await ExclusiveGate.shared.release()
    }
}

extension Trait where Self == ExclusiveTrait {
    /// Runs each test of the suite alone among other `.exclusive` tests.
    static var exclusive: Self { ExclusiveTrait() }
}

/// Waits until `condition` holds, polling it every `pollMilliseconds`, for at most
/// `timeoutSeconds`; returns whether it held. The deadline is generous on purpose: it only stops a
/// test that would otherwise hang, and is never what a test measures — a test waits for the event
/// it needs (a row, a file, a process state), not for a fixed time, so it neither flakes on a slow
/// machine nor passes by luck on a fast one.
func waitUntil(timeoutSeconds: Double = 30, pollMilliseconds: Int = 10,
               _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(timeoutSeconds * 1_000))
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(pollMilliseconds))
    }
    return try await condition()
}

/// Runs the `sqlite3` shell on `path` with `sql`; its stdout's lines (`|`-separated columns).
func sqlite(_ path: String, _ sql: String, readOnly: Bool = false,
            sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String] {
    let result = try await runProductAt("/usr/bin/sqlite3", ["-batch", "-noheader"] + (readOnly ? ["-readonly"] : []) + [path, sql],
                                        timeoutSeconds: 60)
    #expect(result.status == 0 && result.stderr.isEmpty, "sqlite3 \(path): \(result.stderr)", sourceLocation: sourceLocation)
    return result.stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
}
