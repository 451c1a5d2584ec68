import ArbTestSupport
import ArbEngine
import Foundation
import Testing

/// For every fault point: run the built `arb` on the demo until it dies there (`_exit(137)`, like
/// kill -9); check, before anything touches the files again, that they hold exactly what that
/// point must leave (FaultPoints.swift says what each means); run it again without the fault and
/// check that its recovery examined and moved the opportunity the crash left open; then DESIGN
/// §8's invariants 1–6 against the trader database and both paper venue files.
///
/// The demo, made serial: `min_size` 20 and `max_exposure_total_usd` 30 leave room in the risk gate
/// for one opportunity in flight at a time (two would reserve at least 2 × 20 contracts of a pair
/// priced near $1), so the opportunity the crash caught is the one left open, and its state is
/// not blurred by a neighbour's. Seed 7 reaches every point (the exit status proves it).
@Suite("Crash matrix", .serialized, .exclusive)
struct CrashMatrixTests {
    static func serialDemoConfig(_ directory: TemporaryDirectory) throws -> String {
        let json = demoJSON(replacing: #""min_size": "1""#, with: #""min_size": "20""#)
        var serial = json.replacingOccurrences(of: #""max_exposure_total_usd": "2000.00""#, with: #""max_exposure_total_usd": "30.00""#)
        // Every leg is placed and acknowledged (no rejects, no lost answers: those have their own
        // tests in BadInputVenueTests), so the leg that lags behind a fill is live at its venue and
        // the first one-sided opportunity certainly sends a cancel before after-cancel-sent.
        serial = serial.replacingOccurrences(of: #""rest_percent": 12,"#, with: #""rest_percent": 22,"#)
            .replacingOccurrences(of: #""reject_percent": 6,"#, with: #""reject_percent": 0,"#)
            .replacingOccurrences(of: #""ambiguous_submit_percent": 4,"#, with: #""ambiguous_submit_percent": 0,"#)
        // One-sided exposures are unwound (a bound wide enough that the demo's books allow an
        // order), so the unwind's own fault points are reached.
            .replacingOccurrences(of: TraderConfig.demoUnwindSection, with: #""unwind": {"policy": "best", "max_loss_per_contract": "0.50"}"#)
        #expect(serial.contains(#""unwind": {"policy": "best""#))
        #expect(serial.components(separatedBy: #""rest_percent": 22,"#).count == 3, "both venues' fill models changed")
        #expect(serial.contains(#""min_size": "20""#) && serial.contains(#""max_exposure_total_usd": "30.00""#))
        let path = directory.path("serial.json")
        try Data(serial.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("arb run crashed at each fault point leaves that point's state, and recovery on restart finishes it with every invariant intact",
          arguments: FaultPoint.allCases)
    func crashAndRecover(point: FaultPoint) async throws {
        let directory = TemporaryDirectory()
        let db = directory.path("arb.db")
        let config = try Self.serialDemoConfig(directory)
        // A long duration costs nothing when the point is reached (the crash ends the run); a
        // loaded machine makes fewer opportunities a second, so a rare point may take longer.
        let crashed = try await runBuilt("arb", ["run", "--config", config, "--db", db, "--seed", "7", "--duration", "30",
                                                 "--log-level", "error"],
                                         environment: ["ARB_CRASH_AT": point.rawValue], timeoutSeconds: 90)
        try #require(crashed.status == 137 && !crashed.terminatedBySignal,
                     "expected to die at \(point.rawValue); exit \(crashed.status): \(crashed.stderr.suffix(500))")

        let files = CrashFiles(directory: directory)
        let before = try await files.snapshot()
        let caught = try expectLeftBy(point, before)

        let restarted = try await runBuilt("arb", ["run", "--config", config, "--db", db, "--seed", "8", "--duration", "0.5",
                                                   "--log-level", "error"], timeoutSeconds: 60)
        #expect(restarted.status == 0, "restart failed: \(restarted.stderr.suffix(800))")
        let examined = recoveryExamined(restarted.stdout)
        if let caught {
            // Recovery must have looked at the opportunity the crash left, and moved it itself.
            #expect((examined ?? 0) >= 1, "recovery examined \(examined.map(String.init) ?? "?"): \(restarted.stdout)")
            let moves = try await sqlite(db, """
                SELECT to_state || coalesce('(' || outcome || ')', '') FROM transitions
                WHERE opportunity_id = \(caught) AND id > \(before.lastTransition) AND reason LIKE 'recovery:%' ORDER BY id
                """, readOnly: true)
            #expect(!moves.isEmpty, "opportunity \(caught) was not moved by recovery")
            #expect(moves.last?.hasPrefix("Closed(") == true, "recovery left opportunity \(caught) at \(moves)")
        } else {
            #expect(examined == 0, "nothing was left open, yet recovery examined \(examined.map(String.init) ?? "?")")
        }

        let violations = try Invariants.check(
            databasePath: db,
            paperFiles: ["kalshi": directory.path("paper-kalshi.db"), "polymarket": directory.path("paper-polymarket.db")],
            options: .init(requireAllClosed: true, sinks: ["file"]))
        #expect(violations.isEmpty, "after \(point.rawValue): \(violations.prefix(10))")
    }

    /// Checks what `point` must leave in the files; returns the opportunity the crash caught open
    /// (nil when the point leaves none).
    func expectLeftBy(_ point: FaultPoint, _ files: CrashFiles.Snapshot) throws -> Int64? {
        if point == .afterDetected {
            // The creating commit never landed: nothing was begun, nothing sent, nothing open.
            #expect(files.open.isEmpty, "open: \(files.open)")
            #expect(files.sent == 0 && files.legs == 0, "begun: \(files.sent), legs: \(files.legs)")
            #expect(files.venueOrders.isEmpty, "orders at the venues: \(files.venueOrders)")
            return nil
        }
        try #require(files.open.count == 1, "expected one opportunity open at \(point.rawValue): \(files.open)")
        let caught = try #require(files.caught)
        let legs = caught.legs
        try #require(legs.map(\.leg) == ["a", "b"], "legs: \(legs)")
        let orders = legs.map { files.venueOrders[$0.clientOrderID] }
        let described = "\(caught.id) \(caught.path): legs \(legs), orders \(orders)"

        // Neighbouring points differ only in memory for some runs, so the files cannot tell them
        // apart: after-submit-leg-a from after-submit-both (leg B's submit runs concurrently and
        // may be answered too), and after-submit-both from after-first-fill when the first fill
        // came with a submit's answer. Each case checks what its point guarantees.
        switch point {
        case .afterDetected:
            break
        case .afterInflightCommit:
            // The intent is committed, nothing is sent.
            #expect(caught.path == ["Detected", "InFlight"], "\(described)")
            #expect(legs.allSatisfy { $0.status == "pending" }, "\(described)")
            #expect(orders.allSatisfy { $0 == nil } && files.venueOrders.isEmpty, "sent before the crash: \(described)")
        case .afterSubmitLegA:
            // Leg A's submit was answered: its order is at its venue; nothing recorded after InFlight.
            #expect(caught.path == ["Detected", "InFlight"], "\(described)")
            #expect(legs.allSatisfy { $0.status == "pending" && $0.filled == 0 } && caught.fills == 0, "\(described)")
            #expect(orders[0] != nil, "leg a is not at its venue: \(described)")
            #expect(orders.allSatisfy { ($0?.cancelAttempts ?? 0) == 0 }, "a cancel was sent: \(described)")
        case .afterSubmitBoth:
            // Both orders at the venues; nothing about them recorded.
            #expect(caught.path == ["Detected", "InFlight"], "\(described)")
            #expect(legs.allSatisfy { $0.status == "pending" && $0.filled == 0 } && caught.fills == 0, "\(described)")
            #expect(orders.allSatisfy { $0 != nil }, "\(described)")
            #expect(orders.allSatisfy { ($0?.cancelAttempts ?? 0) == 0 }, "a cancel was sent: \(described)")
        case .afterFirstFill:
            // A fill exists at a venue; the database has none for this opportunity.
            #expect(caught.path == ["Detected", "InFlight"] || caught.path == ["Detected", "InFlight", "LegsPlaced"], "\(described)")
            #expect(legs.allSatisfy { $0.filled == 0 } && caught.fills == 0, "\(described)")
            #expect(orders.contains { ($0?.filled ?? 0) > 0 }, "no fill at either venue: \(described)")
            #expect(orders.allSatisfy { ($0?.cancelAttempts ?? 0) == 0 }, "a cancel was sent: \(described)")
        case .afterCancelSent:
            // The venues show the imbalance and the cancel; the database does not know yet.
            #expect(!caught.path.contains("OneSided") && !caught.path.contains("CancelAttempted"), "\(described)")
            #expect(caught.alerts.isEmpty, "\(described)")
            // The cancels go before any write: every order still live has had its cancel.
            #expect(orders.allSatisfy { $0 == nil || ["filled", "cancelled", "rejected"].contains($0!.status) || $0!.cancelAttempts > 0 },
                    "a live order without its cancel: \(described)")
            // A cancel reached a venue over an imbalance — unless no order was left live to cancel:
            // the laggard's submit answered "filled" before its fill was read, so the executor saw
            // an imbalance the venues no longer show (a race a loaded machine hits).
            let allFinal = orders.allSatisfy { $0 == nil || ["filled", "cancelled", "rejected"].contains($0!.status) }
            #expect(orders.contains { ($0?.cancelAttempts ?? 0) > 0 } || allFinal, "no cancel reached a venue: \(described)")
            #expect(orders[0]?.filled != orders[1]?.filled || allFinal, "no imbalance at the venues: \(described)")
        case .afterOneSidedCommit:
            // OneSided with its alert and CancelAttempted with the cancel's result, committed.
            #expect(caught.path.suffix(2) == ["OneSided", "CancelAttempted"], "\(described)")
            #expect(caught.alerts.contains { $0.hasPrefix("one_sided") }, "alerts \(caught.alerts): \(described)")
            #expect(legs.contains { $0.cancelRequested }, "\(described)")
            // The cancel reached its venue — or its order had filled there first (the venue then
            // answers "already done" without counting an attempt; the same race as above).
            let allFinal = orders.allSatisfy { $0 == nil || ["filled", "cancelled", "rejected"].contains($0!.status) }
            #expect(orders.contains { ($0?.cancelAttempts ?? 0) > 0 } || allFinal, "\(described)")
        case .beforeClose:
            // Both legs are final at the venues; the closing commit did not land.
            #expect(!caught.path.contains("Closed"), "\(described)")
            #expect(orders.allSatisfy { $0 == nil || ["filled", "cancelled", "rejected"].contains($0!.status) }, "\(described)")
        case .afterUnwindCommit, .afterUnwindSubmit:
            // Unwinding, its latest unwind order committed as pending; sent (and answered) only
            // at after-unwind-submit.
            #expect(caught.path.last == "Unwinding", "\(described)")
            let unwind = try #require(files.unwindOrders.last, "no unwind order: \(described)")
            #expect(unwind.status == "pending", "\(unwind): \(described)")
            let atVenue = files.venueOrders[unwind.clientOrderID]
            if point == .afterUnwindCommit {
                #expect(atVenue == nil, "sent before the crash: \(unwind) at \(atVenue.map(String.init(describing:)) ?? "-")")
            } else {
                #expect(atVenue != nil, "not at its venue: \(unwind)")
            }
        }
        return caught.id
    }

    /// The count in the summary's "recovery at start: N examined" line.
    func recoveryExamined(_ summary: String) -> Int? {
        guard let line = summary.split(separator: "\n").first(where: { $0.contains("recovery at start:") }) else { return nil }
        return line.split(separator: ":").last?.split(separator: " ").first.flatMap { Int($0) }
    }
}

/// The trader database and both paper venue files after a crash, read with the sqlite3 shell
/// (read-only: the hot WAL the crash left is recovered by the restart, not by this reading).
struct CrashFiles {
    let directory: TemporaryDirectory

    struct Leg: CustomStringConvertible {
        var leg: String
        var clientOrderID: String
        var status: String
        var filled: Int64
        var cancelRequested: Bool
        var description: String { "\(leg) \(status) filled \(filled)\(cancelRequested ? " cancel requested" : "")" }
    }

    struct VenueOrder: CustomStringConvertible {
        var status: String
        var filled: Int64
        var cancelAttempts: Int64
        var description: String { "\(status) filled \(filled), \(cancelAttempts) cancels" }
    }

    struct Caught {
        var id: Int64
        /// Its transitions' `to` states, in order.
        var path: [String]
        var legs: [Leg]
        var fills: Int
        var alerts: [String]
    }

    struct Snapshot {
        var open: [String]
        var sent: Int
        var legs: Int
        var lastTransition: Int64
        /// Every order at either venue, by client order id.
        var venueOrders: [String: VenueOrder]
        /// The one opportunity left open, if exactly one is.
        var caught: Caught?
        /// The caught opportunity's unwind orders, by attempt.
        var unwindOrders: [UnwindRow] = []
    }

    struct UnwindRow: CustomStringConvertible {
        var clientOrderID: String
        var status: String
        var description: String { "\(clientOrderID) \(status)" }
    }

    func snapshot() async throws -> Snapshot {
        let db = directory.path("arb.db")
        let counts = try await sqlite(db, """
            SELECT (SELECT count(*) FROM transitions WHERE to_state = 'InFlight'), (SELECT count(*) FROM legs),
                   (SELECT coalesce(max(id), 0) FROM transitions)
            """, readOnly: true).first?.split(separator: "|").compactMap { Int64($0) } ?? []
        try #require(counts.count == 3)
        let open = try await sqlite(db, "SELECT id || ' ' || state FROM opportunities WHERE state <> 'Closed' ORDER BY id",
                                    readOnly: true)
        var orders: [String: VenueOrder] = [:]
        for venue in ["kalshi", "polymarket"] {
            let path = directory.path("paper-\(venue).db")
            guard FileManager.default.fileExists(atPath: path) else { continue }
            for row in try await sqlite(path, "SELECT client_order_id, status, filled_quantity, cancel_attempts FROM paper_orders",
                                        readOnly: true) {
                let columns = row.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                orders[columns[0]] = VenueOrder(status: columns[1], filled: Int64(columns[2]) ?? -1,
                                                cancelAttempts: Int64(columns[3]) ?? -1)
            }
        }
        var caught: Caught?
        if open.count == 1, let id = open.first?.split(separator: " ").first.flatMap({ Int64($0) }) {
            let path = try await sqlite(db, "SELECT to_state FROM transitions WHERE opportunity_id = \(id) ORDER BY id", readOnly: true)
            let legs = try await sqlite(db, """
                SELECT leg, client_order_id, status, filled_quantity, cancel_requested FROM legs WHERE opportunity_id = \(id) ORDER BY leg
                """, readOnly: true).map { row in
                let columns = row.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                return Leg(leg: columns[0], clientOrderID: columns[1], status: columns[2], filled: Int64(columns[3]) ?? -1,
                           cancelRequested: columns[4] == "1")
            }
            let fills = try await sqlite(db, "SELECT count(*) FROM fills WHERE opportunity_id = \(id)", readOnly: true)
            let alerts = try await sqlite(db, "SELECT kind FROM alerts WHERE opportunity_id = \(id) ORDER BY id", readOnly: true)
            caught = Caught(id: id, path: path, legs: legs, fills: Int(fills.first ?? "") ?? -1, alerts: alerts)
        }
        var unwinds: [UnwindRow] = []
        if let caught {
            unwinds = try await sqlite(db, "SELECT client_order_id, status FROM unwind_orders WHERE opportunity_id = \(caught.id) ORDER BY attempt",
                                       readOnly: true).map { row in
                let columns = row.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                return UnwindRow(clientOrderID: columns[0], status: columns[1])
            }
        }
        return Snapshot(open: open, sent: Int(counts[0]), legs: Int(counts[1]), lastTransition: counts[2],
                        venueOrders: orders, caught: caught, unwindOrders: unwinds)
    }
}
