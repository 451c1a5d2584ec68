import Foundation

// What both test targets share: one temporary directory type, one process runner, one "wait
// until" helper. (Fixtures that speak the engine's types stay with their target.)

/// A fresh directory under the system temp dir, removed when the value is dropped.
public final class TemporaryDirectory: @unchecked Sendable {
    public let url: URL

    public init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("arb-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// How a process ended and what it wrote.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var terminatedBySignal: Bool
    public var stdout: String
    public var stderr: String

    public init(status: Int32, terminatedBySignal: Bool, stdout: String, stderr: String) {
        self.status = status
        self.terminatedBySignal = terminatedBySignal
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// The directory holding the built executables (the test bundle sits beside them).
public func builtProductsDirectory() -> URL {
    var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("arb-store-probe").path),
          directory.path != "/" {
        directory = directory.deletingLastPathComponent()
    }
    return directory
}

/// Runs a built product to its end (or until `timeoutSeconds`, then SIGKILL) and collects its output.
public func runProduct(_ name: String, _ arguments: [String], environment: [String: String] = [:],
                       currentDirectory: String? = nil, timeoutSeconds: Double = 120) throws -> ProcessOutput {
    try runExecutable(builtProductsDirectory().appendingPathComponent(name).path, arguments, environment: environment,
                      currentDirectory: currentDirectory, timeoutSeconds: timeoutSeconds)
}

/// Runs `executable` to its end (or until `timeoutSeconds`, then SIGKILL) and collects its
/// output (through files, so a chatty child never blocks on a full pipe). `ARB_CRASH_AT` is
/// never inherited.
public func runExecutable(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                          currentDirectory: String? = nil, timeoutSeconds: Double = 120) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
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

/// Waits until `condition` holds, polling it every `pollMilliseconds`, for at most
/// `timeoutSeconds`; returns whether it held. The deadline is generous on purpose: it only stops a
/// test that would otherwise hang, and is never what a test measures — a test waits for the event
/// it needs (a row, a file, a process state), not for a fixed time, so it neither flakes on a slow
/// machine nor passes by luck on a fast one.
public func waitUntil(timeoutSeconds: Double = 30, pollMilliseconds: Int = 10,
                      _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(timeoutSeconds * 1_000))
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(pollMilliseconds))
    }
    return try await condition()
}
