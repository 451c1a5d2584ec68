import ArbTestSupport
import Testing
import Foundation

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

/// Runs the `sqlite3` shell on `path` with `sql`; its stdout's lines (`|`-separated columns).
func sqlite(_ path: String, _ sql: String, readOnly: Bool = false,
            sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String] {
    let result = try await runProductAt("/usr/bin/sqlite3", ["-batch", "-noheader"] + (readOnly ? ["-readonly"] : []) + [path, sql],
                                        timeoutSeconds: 60)
    #expect(result.status == 0 && result.stderr.isEmpty, "sqlite3 \(path): \(result.stderr)", sourceLocation: sourceLocation)
    return result.stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
}
