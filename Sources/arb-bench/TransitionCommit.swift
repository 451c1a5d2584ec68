import CSQLite
import OrderStateMachine
#if canImport(Glibc)
import Glibc
#endif

/// `transition_commit`: one `Store.transition` (BEGIN IMMEDIATE, compare-and-set UPDATE whose
/// AFTER UPDATE trigger writes the log row, COMMIT) against the same SQL on the same schema
/// straight through the sqlite3 C API, at `synchronous=FULL` and `NORMAL`.
///
/// Both sides run on their own file in the same directory, populated identically, and the two
/// loops are interleaved (store, raw, raw, store, …) so that disk noise, checkpoints and CPU
/// frequency changes fall on both alike.
enum TransitionCommit {
    /// `Store.applyTransition`'s UPDATE, character for character.
    static let updateSQL = """
        UPDATE opportunities SET state = ?, outcome = ?, state_reason = ?, updated_at_ms = ?
        WHERE id = ? AND state = ? AND outcome IS ?
        """

    struct Pair: Sendable {
        var durability: Durability
        var store: LatencySummary
        var raw: LatencySummary
        var ratioP50: Double { store.p50 / raw.p50 }
        var ratioP99: Double { store.p99 / raw.p99 }
        var ratioMean: Double { store.mean / raw.mean }
        var targetMet: Bool { ratioP50 <= TransitionCommit.ratioMax }
        /// WAL frames (pages) one transition appends; the same on both sides.
        var framesPerCommit: Double

        var json: JSON {
            .object([("store", store.json), ("raw", raw.json), ("ratio_p50", .number(ratioP50)),
                     ("ratio_p99", .number(ratioP99)), ("ratio_mean", .number(ratioMean)),
                     ("wal_frames_per_commit", .number(framesPerCommit)),
                     ("target_met", .bool(targetMet))])
        }
    }

    struct Result: Sendable {
        var full: Pair
        var normal: Pair
        /// The disk's floor: overwrite 4 KiB of a preallocated file and `fdatasync` it.
        var fdatasync: LatencySummary
        /// The share of flushes that took a whole multiple (1…4) of the median, within 10 %.
        /// This VM's disk at times completes flushes only on a ~4 ms host tick: commits at full
        /// then take 1 or 2 ticks depending on a few microseconds of CPU before the flush, and
        /// full-durability ratios measure the tick's phase, not our code.
        var flushOnTickFraction: Double
        /// Flushes take a millisecond or more (median): the disk is in its slow, ticking state.
        var slowFlush: Bool { fdatasync.p50 >= 1_000 }
    }

    static let ratioMax = 1.15

    static func run(in directory: String, size: RunSize) throws -> Result {
        progress("transition_commit: disk fdatasync floor")
        let (fdatasync, onTick) = try fdatasyncLatency(directory: directory, iterations: size.fdatasyncIterations)
        progress("transition_commit: full (\(size.commitIterationsFull) × 2 commits)")
        let full = try measure(.full, directory: directory, warmup: size.commitWarmup, iterations: size.commitIterationsFull)
        progress("transition_commit: normal (\(size.commitIterationsNormal) × 2 commits)")
        let normal = try measure(.normal, directory: directory, warmup: size.commitWarmup,
                                 iterations: size.commitIterationsNormal)
        return Result(full: full, normal: normal, fdatasync: fdatasync, flushOnTickFraction: onTick)
    }

    static func measure(_ durability: Durability, directory: String, warmup: Int, iterations: Int) throws -> Pair {
        let count = warmup + iterations
        let storePath = "\(directory)/commit-\(durability.rawValue)-store.db"
        let rawPath = "\(directory)/commit-\(durability.rawValue)-raw.db"
        let store = try populate(storePath, durability: durability, count: count)
        let raw = try RawBaseline(path: rawPath, durability: durability, count: count)
        try store.checkpoint()

        let step = TransitionStep(.riskGatePassed, reason: "bench")
        let now = wallMilliseconds()
        var storeSamples = Samples(capacity: iterations)
        var rawSamples = Samples(capacity: iterations)
        for index in 0..<count {
            let id = Int64(index + 1)
            func timeStore() throws -> UInt64 {
                let start = monotonicNanoseconds()
                let result = try store.transition(id, from: .detected, step, at: now)
                let elapsed = monotonicNanoseconds() - start
                guard case .applied(.inFlight) = result else { throw BenchError("store transition \(id): \(result)") }
                return elapsed
            }
            func timeRaw() throws -> UInt64 { try raw.timedTransition() }
            let (storeTime, rawTime): (UInt64, UInt64)
            if index % 2 == 0 {
                storeTime = try timeStore()
                rawTime = try timeRaw()
            } else {
                rawTime = try timeRaw()
                storeTime = try timeStore()
            }
            if index >= warmup {
                storeSamples.append(storeTime)
                rawSamples.append(rawTime)
            }
        }
        // Both files must hold the same history: one log row per transition.
        let storeLog = try Connection(path: store.path, mode: .readOnly)
            .prepare("SELECT count(*) FROM transitions WHERE from_state = 'Detected'").queryOne { $0.int64(0) }
        guard storeLog == Int64(count) else { throw BenchError("store wrote \(storeLog ?? -1) log rows for \(count) transitions") }

        // Frames per commit, counted on a fresh WAL well below the auto-checkpoint (1,000 pages).
        let counted = 50
        let extra = try populate("\(directory)/commit-\(durability.rawValue)-frames.db", durability: durability, count: counted)
        try extra.checkpoint()
        for index in 0..<counted {
            guard try extra.transition(Int64(index + 1), from: .detected, step, at: now).isApplied else {
                throw BenchError("frames transition \(index)")
            }
        }
        let frames = try walFrames(path: extra.path)
        return Pair(durability: durability, store: storeSamples.summary(), raw: rawSamples.summary(),
                    framesPerCommit: Double(frames) / Double(counted))
    }

    /// The frames in the WAL now (`PRAGMA wal_checkpoint(PASSIVE)`'s second column): every
    /// commit appends each page it changed as one frame of a page plus a 24-byte header.
    /// Read before any checkpoint has reset the log.
    static func walFrames(path: String) throws -> Int64 {
        try walFrames(Connection(path: path, mode: .readWrite))
    }

    static func walFrames(_ connection: Connection) throws -> Int64 {
        try connection.prepare("PRAGMA wal_checkpoint(PASSIVE)").queryOne { $0.int64(1) } ?? -1
    }

    /// A fresh arb database holding `count` opportunities in `Detected` (ids 1…count), inserted in
    /// one transaction through the schema's own triggers (raw SQL on a second connection: a
    /// fixture, not a path the trader has).
    static func populate(_ path: String, durability: Durability, count: Int) throws -> Store {
        let store = try Store(path: path, durability: durability)
        let now = wallMilliseconds()
        let raw = try Connection(path: path, mode: .readWrite)
        try raw.writeTransaction {
            let insert = try raw.prepare("""
                INSERT INTO opportunities (dedup_key, event_id, venue_a, outcome_a, instrument_a, venue_b, outcome_b,
                    instrument_b, edge_bps, price_a, price_b, quantity, expected_fees_micros, state_reason,
                    created_at_ms, updated_at_ms)
                VALUES (?, ?, 'kalshi', 'YES', ?, 'polymarket', 'NO', ?, 300, 4500, 5000, 1000, 0, 'detected', ?, ?)
                """)
            for index in 0..<count {
                try insert.execute("EV-\(index)|kalshi:YES|polymarket:NO", "EV-\(index)", "KX-EV\(index)-YES",
                                   "PM-EV\(index)-NO", now, now)
            }
        }
        return store
    }

    /// The disk's own commit floor: rewrite one 4 KiB page of a preallocated file and
    /// `fdatasync` it — what a WAL commit at `synchronous=FULL` cannot avoid.
    static func fdatasyncLatency(directory: String, iterations: Int) throws -> (LatencySummary, onTick: Double) {
        let path = "\(directory)/fdatasync.bin"
        let fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BenchError("open \(path): \(String(cString: strerror(errno)))") }
        defer {
            close(fd)
            unlink(path)
        }
        let pages = 256
        let page = [UInt8](repeating: 0xA5, count: 4_096)
        for index in 0..<pages { _ = page.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4_096, off_t(index * 4_096)) } }
        fsync(fd)
        var samples = Samples(capacity: iterations)
        for index in 0..<(iterations + 10) {
            let start = monotonicNanoseconds()
            let written = page.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4_096, off_t((index % pages) * 4_096)) }
            let synced = fdatasync(fd)
            let elapsed = monotonicNanoseconds() - start
            guard written == 4_096, synced == 0 else { throw BenchError("fdatasync: \(String(cString: strerror(errno)))") }
            if index >= 10 { samples.append(elapsed) }
        }
        let summary = samples.summary()
        return (summary, onTickFraction(samples.nanoseconds, p50Microseconds: summary.p50))
    }

    /// The share of flushes within 10 % of a whole multiple (1…4) of the median.
    static func onTickFraction(_ samples: [UInt64], p50Microseconds: Double) -> Double {
        let tick = p50Microseconds * 1_000
        let onTick = samples.filter { sample in
            let multiple = (Double(sample) / tick).rounded()
            return (1...4).contains(multiple) && abs(Double(sample) - multiple * tick) <= 0.1 * tick
        }.count
        return Double(onTick) / Double(samples.count)
    }
}

/// A raw-baseline file: an arb database holding `count` opportunities in `Detected`, opened
/// through the C API, on which each call moves the next one to `InFlight` and times it.
/// Other figures interleave these commits with their own iterations, so that their baseline
/// sees the disk at the same moments (this virtual disk's fsync latency drifts by 10× and more
/// over minutes).
final class RawBaseline {
    let connection: RawConnection
    let statements: RawTransition
    let count: Int
    private var next: Int64 = 1
    private let now = wallMilliseconds()

    init(path: String, durability: Durability, count: Int) throws {
        _ = try TransitionCommit.populate(path, durability: durability, count: count)  // closed again at once
        connection = try RawConnection(path: path, synchronous: durability == .full ? "FULL" : "NORMAL")
        try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        statements = RawTransition(
            begin: try connection.prepare("BEGIN IMMEDIATE"), update: try connection.prepare(TransitionCommit.updateSQL),
            commit: try connection.prepare("COMMIT"), rollback: try connection.prepare("ROLLBACK"))
        self.count = count
    }

    /// One raw transition (the next opportunity); its duration in nanoseconds.
    func timedTransition() throws -> UInt64 {
        guard next <= Int64(count) else { throw BenchError("raw baseline: all \(count) opportunities used") }
        let start = monotonicNanoseconds()
        try statements.transition(connection, id: next, now: now)
        let elapsed = monotonicNanoseconds() - start
        next += 1
        return elapsed
    }
}

/// The raw transition: the statements a C programmer would cache, and nothing else.
struct RawTransition {
    let begin: OpaquePointer
    let update: OpaquePointer
    let commit: OpaquePointer
    let rollback: OpaquePointer

    static let inFlight: StaticString = "InFlight"
    static let detected: StaticString = "Detected"
    static let reason: StaticString = "bench"

    /// `Detected → InFlight` for `id` in one BEGIN IMMEDIATE … COMMIT.
    func transition(_ connection: RawConnection, id: Int64, now: Int64) throws {
        guard sqlite3_step(begin) == SQLITE_DONE else { throw connection.error("BEGIN IMMEDIATE") }
        sqlite3_reset(begin)
        var rc = sqlite3_bind_text(update, 1, Self.inFlight.cString, Int32(Self.inFlight.utf8CodeUnitCount), nil)
        rc |= sqlite3_bind_null(update, 2)
        rc |= sqlite3_bind_text(update, 3, Self.reason.cString, Int32(Self.reason.utf8CodeUnitCount), nil)
        rc |= sqlite3_bind_int64(update, 4, now)
        rc |= sqlite3_bind_int64(update, 5, id)
        rc |= sqlite3_bind_text(update, 6, Self.detected.cString, Int32(Self.detected.utf8CodeUnitCount), nil)
        rc |= sqlite3_bind_null(update, 7)
        let stepped = sqlite3_step(update)
        sqlite3_reset(update)
        guard rc == SQLITE_OK, stepped == SQLITE_DONE, sqlite3_changes(connection.handle) == 1 else {
            let error = connection.error(TransitionCommit.updateSQL)
            sqlite3_step(rollback)
            sqlite3_reset(rollback)
            throw error
        }
        guard sqlite3_step(commit) == SQLITE_DONE else { throw connection.error("COMMIT") }
        sqlite3_reset(commit)
    }
}
