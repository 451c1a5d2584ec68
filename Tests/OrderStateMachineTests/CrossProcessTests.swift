import ArbTestSupport
import Foundation
@testable import OrderStateMachine
import Testing

@Suite("Across processes", .serialized)
struct CrossProcessTests {
    let directory = TemporaryDirectory()

    @Test("4 processes racing the same 200 dedup keys leave exactly one live row per key")
    func dedupRace() async throws {
        let path = directory.path("race.db")
        _ = try Store(path: path)
        let keys = 200
        let workers = 4
        let outputs = try await withThrowingTaskGroup(of: ProcessOutput.self) { group in
            for worker in 0..<workers {
                group.addTask { try runProduct("arb-store-probe", ["race", path, "\(keys)", "\(worker + 1)"]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        var created = 0
        var duplicates = 0
        for output in outputs {
            // Any error other than .duplicate makes the probe exit 1 with the error on stderr.
            #expect(output.status == 0, "probe failed: \(output.stderr)")
            let words = output.stdout.split(separator: " ").map(String.init)
            guard words.count == 4, let c = Int(words[1]), let d = Int(words[3].trimmingCharacters(in: .whitespacesAndNewlines))
            else { Issue.record("unexpected probe output: \(output.stdout)"); continue }
            created += c
            duplicates += d
        }
        #expect(created == keys)
        #expect(duplicates == keys * (workers - 1))
        let store = try Store(path: path, access: .readOnly)
        let perKey = try store.connection.prepare(
            "SELECT count(*) FROM opportunities WHERE state <> 'Closed' GROUP BY dedup_key").query { $0.int64(0) }
        #expect(perKey.count == keys)
        #expect(perKey.allSatisfy { $0 == 1 })
    }

    @Test("8 processes racing the same 300 dedup keys, each in its own order: one live row per key, the rest told duplicate")
    func dedupRaceEightWorkers() async throws {
        let path = directory.path("race8.db")
        _ = try Store(path: path)
        let keys = 300
        let workers = 8
        // All eight started before any is waited for, so they really run at once (a task group
        // of blocking waits would run only as many as the cooperative pool has threads).
        let probes = try (0..<workers).map { worker in
            try startProbe(["race", path, "\(keys)", "\(100 + worker)"])
        }
        var outputs: [ProcessOutput] = []
        for probe in probes { outputs.append(try await probe()) }
        var created = 0
        var duplicates = 0
        for output in outputs {
            #expect(output.status == 0 && !output.terminatedBySignal, "probe failed: \(output.stderr)")
            let words = output.stdout.split(whereSeparator: \.isWhitespace).map(String.init)
            guard words.count == 4, words[0] == "created", let c = Int(words[1]), let d = Int(words[3]) else {
                Issue.record("unexpected probe output: \(output.stdout)")
                continue
            }
            #expect(c + d == keys, "a worker neither created nor was refused some keys: \(output.stdout)")
            created += c
            duplicates += d
        }
        #expect(created == keys)
        #expect(duplicates == keys * (workers - 1))
        let store = try Store(path: path, access: .readOnly)
        let rows = try store.connection.prepare("SELECT count(*), count(DISTINCT dedup_key) FROM opportunities")
            .queryOne { ($0.int64(0), $0.int64(1)) }
        #expect(rows?.0 == Int64(keys) && rows?.1 == Int64(keys), "rows and distinct keys: \(String(describing: rows))")
        let check = try store.connection.prepare("PRAGMA integrity_check").query { $0.text(0) }
        #expect(check == ["ok"])
    }

    @Test("SIGKILL before COMMIT leaves none of the transition; after COMMIT all of it", arguments: [false, true])
    func crashMidTransaction(afterCommit: Bool) throws {
        let path = directory.path("crash-\(afterCommit).db")
        let prepared = try runProduct("arb-store-probe", ["prepare", path])
        #expect(prepared.status == 0, "\(prepared.stderr)")
        let crashed = try runProduct("arb-store-probe", [afterCommit ? "crash-after-commit" : "crash", path])
        #expect(crashed.terminatedBySignal && crashed.status == SIGKILL, "status \(crashed.status): \(crashed.stderr)")

        let store = try Store(path: path, access: .existing)
        let check = try store.connection.prepare("PRAGMA integrity_check").query { $0.text(0) }
        #expect(check == ["ok"])
        let history = try #require(try store.history(of: 1))
        let legA = history.legs[0]
        if afterCommit {
            #expect(history.opportunity.state == .oneSided)
            #expect(history.transitions.last?.to == .oneSided)
            #expect(history.fills.count == 1)
            #expect(legA.status == .filled && legA.filledQuantity == Quantity(contracts: 10))
            #expect(history.alerts.count == 1 && history.alerts[0].deliveries.count == 2)
        } else {
            #expect(history.opportunity.state == .inFlight)
            #expect(history.transitions.last?.to == .inFlight)
            #expect(history.fills.isEmpty)
            #expect(legA.status == .pending && legA.filledQuantity == .zero)
            #expect(history.alerts.isEmpty)
            let deliveries = try store.connection.prepare("SELECT count(*) FROM alert_deliveries").queryOne { $0.int64(0) }
            #expect(deliveries == 0)
        }
    }
}

/// Starts `arb-store-probe` with its output in pipes; the returned function waits for it (without
/// blocking a thread) and collects the output. The probes print a line or two, well within a
/// pipe's buffer, so nothing blocks on a full pipe.
private func startProbe(_ arguments: [String]) throws -> () async throws -> ProcessOutput {
    let process = Process()
    process.executableURL = builtProductsDirectory().appendingPathComponent("arb-store-probe")
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    return {
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning {
            if Date() > deadline { kill(process.processIdentifier, SIGKILL) }
            try await Task.sleep(for: .milliseconds(5))
        }
        return ProcessOutput(
            status: process.terminationStatus,
            terminatedBySignal: process.terminationReason == .uncaughtSignal,
            stdout: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            stderr: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }
}
