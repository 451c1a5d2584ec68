import CSQLite
import Dispatch
import Synchronization

/// WAL checkpoints off the writer's commits, for the trader's store.
///
/// By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: that one
/// commit also copies the WAL's pages into the database file and flushes it — 0.5–1 ms more than
/// a commit, and on the trader it falls on about 1 % of begin commits (arb-bench's
/// detect_to_submit: the whole of its p99 tail). Here the writer's commit only notes the WAL's
/// size (`sqlite3_wal_hook`, which replaces the automatic checkpoint); past the same threshold a
/// serial dispatch queue — not the Swift cooperative pool, since it blocks on the disk — runs a
/// `PASSIVE` checkpoint on a connection of its own, beside the writer (WAL mode lets the two run
/// at once; https://sqlite.org/wal.html#ckpt). Durability is unchanged: a commit is durable when
/// its WAL frames are, and a crash mid-checkpoint is recovered by SQLite as ever.
final class BackgroundCheckpointer: Sendable {
    /// The WAL size (frames) that asks for a checkpoint: SQLite's own automatic threshold.
    static let threshold: Int32 = 1_000
    /// The WAL size at which the writer checkpoints in its own commit after all, as SQLite's
    /// default would: the queue has not kept up (its connection would not open, the machine is
    /// starved), and a WAL must never grow without bound.
    static let inlineFallback: Int32 = 10 * threshold

    /// Fault injection for tests: the queue takes no work, as if it never got to run.
    let stalled: Bool

    private let path: String
    private let queue = DispatchQueue(label: "arb.store.checkpoint", qos: .utility)
    /// A checkpoint is queued and has not started: later commits add no second one.
    private let queued = Atomic<Bool>(false)
    private let state = Mutex<State>(State())

    private struct State: ~Copyable {
        var connection: Connection?
        var checkpoints = 0
        var inlineCheckpoints = 0
        var stopped = false
    }

    init(path: String, stalled: Bool = false) {
        self.path = path
        self.stalled = stalled
    }

    /// Installs the hook on `connection` (the writer): from now on its commits never checkpoint.
    func attach(to connection: Connection) {
        sqlite3_wal_hook(connection.handle, { context, db, _, frames in
            guard let context else { return SQLITE_OK }
            let checkpointer = Unmanaged<BackgroundCheckpointer>.fromOpaque(context).takeUnretainedValue()
            if frames >= BackgroundCheckpointer.inlineFallback {
                // SQLite's default hook does the same (a checkpoint from inside the hook).
                sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
                checkpointer.state.withLock { $0.inlineCheckpoints += 1 }
                return SQLITE_OK
            }
            checkpointer.walGrew(frames: frames)
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Removes the hook (before the writer closes) and closes this side's connection once the
    /// queued checkpoint, if any, is done.
    func detach(from connection: Connection) {
        sqlite3_wal_hook(connection.handle, nil, nil)
        queue.sync {
            state.withLock { state in
                state.stopped = true
                state.connection = nil
            }
        }
    }

    /// How many checkpoints the queue has run, and how many the writer ran itself (tests).
    var checkpoints: Int { state.withLock { $0.checkpoints } }
    var inlineCheckpoints: Int { state.withLock { $0.inlineCheckpoints } }

    /// Called by SQLite on the writer's thread after each commit, with the WAL's size in frames.
    private func walGrew(frames: Int32) {
        guard !stalled, frames >= Self.threshold, queued.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        queue.async { self.checkpoint() }
    }

    private func checkpoint() {
        queued.store(false, ordering: .releasing)
        state.withLock { state in
            guard !state.stopped else { return }
            if state.connection == nil { state.connection = try? Connection(path: path, mode: .readWrite) }
            // PASSIVE: copies what no reader still needs and never waits; a busy file (another
            // checkpoint, a reader on an old snapshot) is tried again at the next threshold.
            _ = try? state.connection?.prepare("PRAGMA wal_checkpoint(PASSIVE)").queryOne { $0.int64(0) }
            state.checkpoints += 1
        }
    }
}
