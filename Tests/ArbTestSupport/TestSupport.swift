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

/// Runs a built product to its end (or until `timeoutSeconds`, then SIGKILL) and collects its
/// output, blocking this thread. (In async tests prefer `runBuilt`, which waits without holding
/// a thread of the cooperative pool.)
public func runProduct(_ name: String, _ arguments: [String], environment: [String: String] = [:],
                       currentDirectory: String? = nil, timeoutSeconds: Double = 120) throws -> ProcessOutput {
    try runExecutable(builtProductsDirectory().appendingPathComponent(name).path, arguments, environment: environment,
                      currentDirectory: currentDirectory, timeoutSeconds: timeoutSeconds)
}

/// `runProduct` for an executable given by path.
public func runExecutable(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                          currentDirectory: String? = nil, timeoutSeconds: Double = 120) throws -> ProcessOutput {
    try startProcess(executable, arguments, environment: environment, currentDirectory: currentDirectory)
        .waitBlocking(seconds: timeoutSeconds)
}

/// Runs a built product, waiting without blocking a thread; `asNobody` runs it as user `nobody`
/// (uid/gid 65534) through `setpriv` — the tests run as root here, and root reads a chmod-000
/// file and writes a read-only directory, so permission refusals are only real for another user.
public func runBuilt(_ name: String, _ arguments: [String], environment: [String: String] = [:],
                     currentDirectory: String? = nil, asNobody: Bool = false, timeoutSeconds: Double = 60) async throws -> ProcessOutput {
    let executable = builtProductsDirectory().appendingPathComponent(name).path
    if asNobody {
        return try await runProductAt("/usr/bin/setpriv",
                                      ["--reuid=65534", "--regid=65534", "--clear-groups", executable] + arguments,
                                      environment: environment, currentDirectory: currentDirectory, timeoutSeconds: timeoutSeconds)
    }
    return try await runProductAt(executable, arguments, environment: environment, currentDirectory: currentDirectory,
                                  timeoutSeconds: timeoutSeconds)
}

/// An executable given by path, waiting without blocking a thread.
public func runProductAt(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                         currentDirectory: String? = nil, timeoutSeconds: Double) async throws -> ProcessOutput {
    try await startProcess(executable, arguments, environment: environment, currentDirectory: currentDirectory)
        .wait(seconds: timeoutSeconds)
}

/// Starts the built `arb` without waiting for it.
public func startBuiltArb(_ arguments: [String], environment: [String: String] = [:]) throws -> StartedProcess {
    try startProcess(builtProductsDirectory().appendingPathComponent("arb").path, arguments, environment: environment)
}

/// Starts `executable` with its stdout and stderr going to files (a chatty child never blocks on
/// a full pipe). `ARB_CRASH_AT` and `ARB_WEBHOOK_URL` are never inherited from the test's own
/// environment.
public func startProcess(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                         currentDirectory: String? = nil) throws -> StartedProcess {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env["ARB_CRASH_AT"] = nil
    env["ARB_WEBHOOK_URL"] = nil
    for (key, value) in environment { env[key] = value }
    process.environment = env
    if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("arb-out-\(UUID().uuidString)").path
    let err = FileManager.default.temporaryDirectory.appendingPathComponent("arb-err-\(UUID().uuidString)").path
    _ = FileManager.default.createFile(atPath: out, contents: nil)
    _ = FileManager.default.createFile(atPath: err, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
    try process.run()
    return StartedProcess(process: process, stdoutPath: out, stderrPath: err)
}

/// A started child whose stdout and stderr go to files, removed (and the child killed if still
/// running) when it is dropped.
public final class StartedProcess: @unchecked Sendable {
    public let process: Process
    public let stdoutPath: String
    public let stderrPath: String

    init(process: Process, stdoutPath: String, stderrPath: String) {
        self.process = process
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Waits at most `seconds` (then SIGKILL) without blocking a thread, and collects the output.
    public func wait(seconds: Double) async throws -> ProcessOutput {
        if !(await exited(within: seconds)) {
            kill(process.processIdentifier, SIGKILL)
            _ = await exited(within: 10)
        }
        return output
    }

    /// `wait(seconds:)` for synchronous callers: blocks this thread.
    public func waitBlocking(seconds: Double) throws -> ProcessOutput {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning {
            if Date() > deadline { kill(process.processIdentifier, SIGKILL) }
            usleep(5_000)
        }
        return output
    }

    /// Whether the process ended within `seconds`.
    public func exited(within seconds: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(5)) }
        return !process.isRunning
    }

    private var output: ProcessOutput {
        ProcessOutput(
            status: process.terminationStatus, terminatedBySignal: process.terminationReason == .uncaughtSignal,
            stdout: (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        unlink(stdoutPath)
        unlink(stderrPath)
    }
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
