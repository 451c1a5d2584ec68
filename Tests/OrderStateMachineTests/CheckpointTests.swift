import ArbTestSupport
import Foundation
import Testing
@testable import OrderStateMachine

/// The trader's store checkpoints its WAL beside the writer, never inside a commit
/// (`BackgroundCheckpointer`); other stores keep SQLite's automatic checkpoint.
@Suite("WAL checkpoints in the background: none inside the writer's commits, the WAL still bounded, nothing lost")
struct CheckpointTests {
    let directory = TemporaryDirectory()

    func begin(_ store: Store, _ index: Int) throws {
        guard case .created = try store.createAndBegin(sampleOpportunity("EV-\(index)"), reason: "gate", makeLegs: { sampleLegs(store, $0) })
        else { throw StoreError.transitionRefused(.notFound(0)) }
    }

    func walBytes(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? Int) ?? 0
    }

    @Test("a background store's commits never checkpoint; the queue does, and the WAL is reused, not grown")
    func background() async throws {
        let path = directory.path("bg.db")
        var store: Store? = try Store(path: path, durability: .normal, checkpoints: .background)
        // The writer's automatic checkpoint is off (the hook replaced it) …
        #expect(try store!.connection.pragmaInteger("wal_autocheckpoint") == 0)
        // … and every commit past the threshold leaves the work to the queue: about 5.8 pages a
        // begin, so 1,500 begins write over 8,000 frames.
        let frameBytes = 4_096 + 24
        var largest = 0
        for index in 0..<1_500 {
            try begin(store!, index)
            largest = max(largest, walBytes(path))
            if index % 100 == 99 { try await Task.sleep(for: .milliseconds(20)) }  // the queue's turn
        }
        #expect(store!.backgroundCheckpoints >= 2, "\(store!.backgroundCheckpoints) checkpoints")
        #expect(largest < 3 * Int(BackgroundCheckpointer.threshold) * frameBytes, "the WAL grew to \(largest) bytes")
        store = nil  // detaches the hook and closes the queue's connection
        let reopened = try Store(path: path, durability: .normal)
        #expect(try reopened.connection.prepare("SELECT count(*) FROM opportunities").queryOne { $0.int64(0) } == 1_500)
        #expect(try reopened.connection.prepare("SELECT count(*) FROM legs").queryOne { $0.int64(0) } == 3_000)
        #expect(try reopened.connection.prepare("PRAGMA integrity_check").query { $0.text(0) } == ["ok"])
    }

    @Test("a queue that never runs still leaves a bounded WAL: past ten times the threshold the writer checkpoints itself")
    func stalledQueue() throws {
        let path = directory.path("stalled.db")
        let store = try Store(path: path, durability: .normal, checkpoints: .backgroundStalled)
        var largest = 0
        for index in 0..<3_000 {  // about 17,000 frames
            try begin(store, index)
            largest = max(largest, walBytes(path))
        }
        #expect(store.backgroundCheckpoints == 0)
        #expect(store.inlineFallbackCheckpoints >= 1)
        // Ten times the threshold (the fallback), and one begin's frames over it.
        #expect(largest < (10 * Int(BackgroundCheckpointer.threshold) + 100) * (4_096 + 24), "the WAL grew to \(largest) bytes")
        #expect(try store.connection.prepare("SELECT count(*) FROM legs").queryOne { $0.int64(0) } == 6_000)
    }

    @Test("other stores keep SQLite's automatic checkpoint in the commit")
    func inCommit() throws {
        let store = try Store(path: directory.path("ic.db"), durability: .normal)
        #expect(try store.connection.pragmaInteger("wal_autocheckpoint") == 1_000)
        for index in 0..<400 { try begin(store, index) }
        #expect(store.backgroundCheckpoints == 0)
        #expect(walBytes(store.path) < 2 * 1_000 * (4_096 + 24))
    }
}
