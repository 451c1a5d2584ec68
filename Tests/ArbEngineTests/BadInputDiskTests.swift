import ArbTestSupport
import ArbEngine
import Foundation
@testable import OrderStateMachine
import Testing

/// A small tmpfs mounted for one test (root only), unmounted when dropped.
final class SmallDisk {
    let directory = TemporaryDirectory()
    var path: String { directory.url.path }
    private(set) var mounted = false

    init?(megabytes: Int) {
        guard getuid() == 0,
              runShortCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m,mode=0700", "tmpfs", directory.url.path]) == 0
        else { return nil }
        mounted = true
    }

    /// Writes zeros to `filler` until the file system says it is full; returns the errno of the
    /// write that was refused (ENOSPC when the disk really filled).
    @discardableResult
    func fill() -> Int32 {
        let fd = open(path + "/filler", O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        // The last partial blocks.
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, 512) }) > 0 {}
        return errno
    }

    /// Blocks an unprivileged writer could still get (0: the file system is at capacity).
    var blocksAvailable: UInt64 {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return .max }
        return UInt64(stats.f_bavail)
    }

    /// The evidence that `fill` filled the disk: its last write refused with ENOSPC, and (when
    /// nothing else writes there, so nothing can free a block meanwhile) no block left.
    func expectFull(_ refusal: Int32, alone: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(refusal == ENOSPC, "the filler's last write failed with errno \(refusal), not ENOSPC", sourceLocation: sourceLocation)
        if alone {
            #expect(blocksAvailable == 0, "\(blocksAvailable) blocks still free: the disk is not full", sourceLocation: sourceLocation)
        }
    }

    func free() { unlink(path + "/filler") }

    deinit {
        if mounted { _ = runShortCommand("/bin/umount", ["-l", directory.url.path]) }
    }
}

/// Whether this machine lets the tests mount a tmpfs (root with mount privileges).
let canMountSmallDisk: Bool = SmallDisk(megabytes: 1) != nil

/// Full disks and durability: DESIGN §4's promises when the disk says no.
@Suite("Bad input: a full disk; durability", .serialized, .exclusive)
struct BadInputDiskTests {
    @Test("a disk already full: `arb run` cannot create its database, says so in one line, exit 1, and leaves no half-made file",
          .enabled(if: canMountSmallDisk, "needs root and permission to mount a tmpfs"))
    func fullBeforeStart() async throws {
        let disk = try #require(SmallDisk(megabytes: 1))
        disk.expectFull(disk.fill(), alone: true)
        let result = try await runBuilt("arb", ["run", "--db", disk.path + "/arb.db", "--duration", "0.5"], timeoutSeconds: 30)
        expectOneLineRefusal(result, status: 1, mentions: ["cannot create database \(disk.path)/arb.db", "disk is full"])
        let left = try FileManager.default.contentsOfDirectory(atPath: disk.path)
        #expect(left == ["filler"], "left behind: \(left)")
    }

    @Test("the disk fills while trading: no crash, at most a one-line error, no corrupt file; with space again a restart recovers everything",
          .enabled(if: canMountSmallDisk, "needs root and permission to mount a tmpfs"))
    func fillsWhileTrading() async throws {
        let disk = try #require(SmallDisk(megabytes: 2))
        let db = disk.path + "/arb.db"
        let trader = try startBuiltArb(["run", "--db", db, "--seed", "11", "--duration", "2.5", "--log-level", "critical"])
        #expect(await leaseHolder(of: db) != nil)
        // Fill the disk once the trader is trading (it has sent an opportunity), not after a
        // guessed delay: the fill must land while it still has quotes to trade.
        let sending = await waitUntil {
            guard let store = try? Store(path: db, access: .readOnly),
                  let sent = try? store.connection.prepare("SELECT count(*) FROM transitions WHERE to_state = 'InFlight'")
                      .queryOne(row: { $0.int64(0) })
            else { return false }
            return sent > 0
        }
        #expect(sending, "the trader sent nothing before the disk was to fill")
        disk.expectFull(disk.fill(), alone: false)
        #expect(trader.isRunning, "the trader ended before the disk filled: the test would prove nothing")
        let result = try await trader.wait(seconds: 30)
        expectNoTrap(result)
        // Whether a write was refused before the end depends on where SQLite's WAL had room; if
        // one was, the run ends with exit 1 and one line naming it.
        #expect(result.status == 0 || result.status == 1, "exit \(result.status)")
        if result.status == 1 {
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("arb: ") && lines[0].contains("disk is full"), "\(result.stderr)")
        }
        for file in ["arb.db", "paper-kalshi.db", "paper-polymarket.db"] {
            let connection = try Connection(path: disk.path + "/" + file, mode: .readOnly)
            #expect(try connection.prepare("PRAGMA integrity_check").query { $0.text(0) } == ["ok"], "\(file) is damaged")
        }

        disk.free()
        // A paper venue may refuse a recovery cancel (the demo's cancel_fail_percent); a person
        // would run it again, so a few restarts are allowed.
        var open: Int64 = 1
        for _ in 0..<3 where open > 0 {
            let restart = try await runBuilt("arb", ["run", "--db", db, "--seed", "12", "--duration", "0.3", "--log-level", "error"],
                                       timeoutSeconds: 30)
            #expect(restart.status == 0, "\(restart.stderr.suffix(500))")
            open = try Store(path: db, access: .readOnly).connection
                .prepare("SELECT count(*) FROM opportunities WHERE state <> 'Closed'").queryOne { $0.int64(0) } ?? 0
        }
        let violations = try Invariants.check(
            databasePath: db, paperFiles: ["kalshi": disk.path + "/paper-kalshi.db", "polymarket": disk.path + "/paper-polymarket.db"],
            options: .init(requireAllClosed: true, sinks: ["file"]))
        #expect(violations.isEmpty, "\(violations.prefix(10))")
    }

    @Test("the trader's database is WAL and commits with synchronous=FULL by default (the demo too); NORMAL only when asked")
    func durability() throws {
        let directory = TemporaryDirectory()
        #expect(TraderConfig.demo().durability == .full)
        let full = try Store(path: directory.path("full.db"))
        #expect(try full.connection.pragmaInteger("synchronous") == 2, "FULL is 2")
        #expect(try full.connection.prepare("PRAGMA journal_mode").queryOne { $0.text(0) } == "wal")
        let normal = try Store(path: directory.path("normal.db"), durability: .normal)
        #expect(try normal.connection.pragmaInteger("synchronous") == 1, "NORMAL is 1")
    }
}
