import ArbTestSupport
import Foundation
import OrderStateMachine
import Testing

// Helpers for the bad-input matrix: run the built binaries the way an operator would, and prove
// that a refusal is one line, a chosen exit code (never a signal or a trap), and leaves every file
// in the directory exactly as it was.

/// Every regular file under a directory, by relative path, with its bytes and permission bits.
/// Comparing two snapshots compares contents byte for byte (what a sha256 comparison stands for),
/// and also catches a file that was created, removed or had its mode changed.
struct DirectorySnapshot: Equatable, CustomStringConvertible {
    struct Entry: Equatable {
        var bytes: Data
        var mode: Int
    }

    var files: [String: Entry]

    /// - Parameter ignoring: relative paths to leave out (e.g. a `-shm` file, SQLite's shared-memory
    ///   index, whose bytes change on every read and which holds no data of its own).
    init(_ directory: String, ignoring: (String) -> Bool = { _ in false }) {
        var files: [String: Entry] = [:]
        let root = URL(fileURLWithPath: directory)
        let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = walker?.nextObject() as? URL {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
            let relative = String(url.standardizedFileURL.path.dropFirst(root.standardizedFileURL.path.count + 1))
            guard !ignoring(relative) else { continue }
            let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
            files[relative] = Entry(bytes: (try? Data(contentsOf: url)) ?? Data(),
                                    mode: (attributes?[.posixPermissions] as? Int) ?? -1)
        }
        self.files = files
    }

    var description: String {
        files.keys.sorted().map { "\($0) (\(files[$0]!.bytes.count) bytes, mode \(String(files[$0]!.mode, radix: 8)))" }
            .joined(separator: ", ")
    }

    /// What differs from `other`, in words (empty when nothing does).
    func differences(from other: DirectorySnapshot) -> [String] {
        var out: [String] = []
        for name in Set(files.keys).union(other.files.keys).sorted() {
            switch (other.files[name], files[name]) {
            case (nil, .some): out.append("\(name) was created")
            case (.some, nil): out.append("\(name) was removed")
            case (.some(let before), .some(let after)) where before != after:
                out.append(before.bytes != after.bytes ? "\(name) was modified" : "\(name) changed mode")
            default: break
            }
        }
        return out
    }
}

/// Waits (bounded, without blocking a thread) until an `arb run` holds the lease on `db`.
func leaseHolder(of db: String, within seconds: Double = 20) async -> LeaseHolder? {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let store = try? Store(path: db, access: .readOnly), let holder = try? store.currentLease() { return holder }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return nil
}

/// A short command (mount, umount) run to its end, for the few places that cannot be async.
func runShortCommand(_ executable: String, _ arguments: [String]) -> Int32? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return nil }
    process.waitUntilExit()
    return process.terminationStatus
}

/// Whether the tests can run a process as another user (root with `setpriv`).
let canRunAsNobody = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")

/// A refusal as the README promises it: the process exited by itself (no signal, no trap) with
/// `status`, printed nothing on stdout, and exactly one line on stderr that starts with `arb: `,
/// names the problem (`mentions`) and holds no Swift runtime failure or stack.
func expectOneLineRefusal(_ result: ProcessOutput, status: Int32, mentions: [String],
                          sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(!result.terminatedBySignal, "killed by signal \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.status == status, "exit \(result.status), expected \(status): \(result.stderr)", sourceLocation: sourceLocation)
    let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.count == 2 && lines[1].isEmpty, "expected one line on stderr, got: \(result.stderr)",
            sourceLocation: sourceLocation)
    #expect(result.stderr.hasPrefix("arb: "), "\(result.stderr)", sourceLocation: sourceLocation)
    for word in mentions {
        #expect(result.stderr.contains(word), "stderr does not mention \(word.debugDescription): \(result.stderr)",
                sourceLocation: sourceLocation)
    }
    expectNoTrap(result, sourceLocation: sourceLocation)
    #expect(result.stdout.isEmpty, "a refused run printed: \(result.stdout)", sourceLocation: sourceLocation)
}

/// No Swift runtime trap, crash report or stack dump in the output.
func expectNoTrap(_ result: ProcessOutput, sourceLocation: SourceLocation = #_sourceLocation) {
    for marker in ["Fatal error", "Stack dump", "Precondition failed", "Assertion failed", "Illegal instruction",
                   "Segmentation fault", "💣", "Current stack trace"] {
        #expect(!result.stderr.contains(marker), "stderr shows a crash (\(marker)): \(result.stderr.prefix(2_000))",
                sourceLocation: sourceLocation)
    }
    #expect(!(result.terminatedBySignal), "terminated by signal \(result.status)", sourceLocation: sourceLocation)
}

/// A `sqlite3` shell in another process, holding a connection (and whatever lock its statements
/// took) open until `close()`. Another process, not a connection in the test process: POSIX
/// advisory locks belong to a process, and the test's own reads of the file (a snapshot) would
/// silently release a lock held here.
final class SQLiteShellHolder {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()

    static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") }

    /// Starts `sqlite3 path`, runs `statements`, and returns once they have run.
    init(path: String, statements: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = ["-batch", path]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data((statements + "\nSELECT 'holding';\n").utf8))
        var seen = Data()
        let deadline = Date().addingTimeInterval(10)
        while !String(decoding: seen, as: UTF8.self).contains("holding"), Date() < deadline, process.isRunning {
            seen += output.fileHandleForReading.availableData
        }
    }

    /// Ends the shell (a transaction still open is rolled back) and waits for it.
    func close() {
        guard process.isRunning else { return }
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit { close() }
}
