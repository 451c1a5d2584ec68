import ArbEngine
import Foundation

/// One figure of the report: what was measured, the baseline from the same run, the ratio, the
/// target and whether it holds.
struct Figure {
    static let names = ["transition_commit", "detect_to_submit", "fill_to_cancel", "detector_throughput",
                        "recovery_per_opportunity", "demo_peak_rss", "sign_kalshi", "sign_polymarket", "commit_beside_dashboard",
                        "book_update_throughput", "wire_detect_to_request"]

    var name: String
    /// Table rows: (label, measured, baseline, ratio).
    var rows: [(String, String, String, String)]
    var target: String
    var targetMet: Bool
    var json: JSON

    // MARK: - The six figures

    static func transitionCommit(_ result: TransitionCommit.Result, disk: String) -> Figure {
        let met = result.full.targetMet && result.normal.targetMet
        func row(_ pair: TransitionCommit.Pair) -> (String, String, String, String) {
            (pair.durability.rawValue, latency(pair.store), latency(pair.raw),
             String(format: "%.2f (p99 %.2f)", pair.ratioP50, pair.ratioP99))
        }
        return Figure(
            name: "transition_commit",
            rows: [row(result.full), row(result.normal),
                   ("disk fdatasync 4 KiB", latency(result.fdatasync)
                        + (result.slowFlush ? String(format: " — SLOW, %.0f%% on a tick: full ratios unreliable", 100 * result.flushOnTickFraction) : ""),
                    "", "")],
            target: "ratio ≤ 1.15 at full and normal", targetMet: met,
            json: .object([
                ("unit", .string("µs per transition (BEGIN IMMEDIATE, compare-and-set UPDATE + trigger log row, COMMIT)")),
                ("full", result.full.json), ("normal", result.normal.json),
                ("baseline", .string("the same UPDATE on the same schema through the sqlite3 C API, cached statements, interleaved with the Store loop")),
                ("ratio", .number(max(result.full.ratioP50, result.normal.ratioP50))),
                ("ratio_definition", .string("store p50 / raw p50; the larger of full and normal")),
                ("disk_fdatasync_4k", result.fdatasync.json), ("disk", .string(disk)),
                ("disk_flush_on_tick_fraction", .number(result.flushOnTickFraction)),
                ("disk_flush_slow", .bool(result.slowFlush)),
                ("full_ratio_reliable", .bool(!result.slowFlush)),
                ("target", .string("ratio <= 1.15 at full and at normal")), ("target_met", .bool(met)),
            ]))
    }

    static func detectToSubmit(_ result: DetectToSubmit.Result, raw: TransitionCommit.Pair) -> Figure {
        let baseline = result.rawInterleaved
        let ratio = result.latency.p99 / baseline.p99
        let met = ratio <= 1.15
        return Figure(
            name: "detect_to_submit",
            rows: [("full", latency(result.latency), "raw full commit, interleaved " + latency(baseline),
                    String(format: "%.2f", ratio)),
                   ("  its one commit, createAndBegin",
                    latency(result.createAndBegin)
                        + String(format: ", %.1f WAL pages (raw: %.1f)", result.framesPerCreateAndBegin, raw.framesPerCommit),
                    "", String(format: "%.2f", result.createAndBegin.p99 / baseline.p99))],
            target: "p99 ≤ 1.15 × raw full commit p99", targetMet: met,
            json: .object([
                ("unit", .string("µs from Detector.update of the completing quote to the later of both venue submits")),
                ("latency", result.latency.json),
                ("baseline", .string("raw full commit (the transition_commit raw loop) interleaved with these iterations")),
                ("baseline_latency", baseline.json),
                ("ratio", .number(ratio)), ("ratio_definition", .string("p99 / interleaved raw full commit p99")),
                ("create_and_begin_commit", result.createAndBegin.json),
                ("create_and_begin_ratio_p99", .number(result.createAndBegin.p99 / baseline.p99)),
                ("create_and_begin_wal_frames_per_commit", .number(result.framesPerCreateAndBegin)),
                ("raw_wal_frames_per_commit", .number(raw.framesPerCommit)),
                ("venue", .string("paper venues (own SQLite files, zero latency, every order filled) behind a submit-timing wrapper")),
                ("target", .string("p99 <= 1.15 x raw full commit p99")), ("target_met", .bool(met)),
            ]))
    }

    static func fillToCancel(_ result: FillToCancel.Result) -> Figure {
        let met = result.latency.p99 <= 100
        let ratio = result.latency.p99 / result.floor.p99
        return Figure(
            name: "fill_to_cancel",
            rows: [("", latency(result.latency), "same hops, no work " + latency(result.floor), String(format: "%.2f", ratio)),
                   ("  OneSidedAlert.make alone", latency(result.alertMake), "", "")],
            target: "p99 ≤ 100 µs", targetMet: met,
            json: .object([
                ("unit", .string("µs from leg A's fill event yielded on its venue stream to leg B's cancel call")),
                ("latency", result.latency.json),
                ("baseline", .string("a timestamp through the same stream and task hops with no work")),
                ("baseline_latency", result.floor.json), ("ratio", .number(ratio)),
                ("one_sided_alert_make", result.alertMake.json),
                ("ratio_definition", .string("p99 / baseline p99")),
                ("target", .string("p99 <= 100 us")), ("target_met", .bool(met)),
            ]))
    }

    static func detectorThroughput(_ result: DetectorThroughput.Result) -> Figure {
        let rateMet = result.updatesPerSecondP50 >= 2_000_000
        let allocationsMet = result.allocations.map { $0.allocations == 0 } ?? false
        let ratio = result.floorUpdatesPerSecondP50 / result.updatesPerSecondP50
        let allocText = result.allocations.map { "\($0.allocations) allocs in \($0.updates) updates" } ?? "allocations not counted"
        var allocationJSON: [(String, JSON)] = [("method", .string(result.allocationNote))]
        if let count = result.allocations {
            allocationJSON += [("command", .string(count.command)),
                               ("updates_traced", .integer(count.updates)),
                               ("allocations_traced", .integer(count.allocations))]
        }
        allocationJSON.append(("valgrind_cross_check", result.valgrind))
        return Figure(
            name: "detector_throughput",
            rows: [("1,000 pairs", String(format: "%.2f M/s (%.0f ns), ", result.updatesPerSecondP50 / 1e6,
                                          result.nanosecondsPerUpdateP50) + allocText,
                    String(format: "floor %.2f M/s (%.0f ns)", result.floorUpdatesPerSecondP50 / 1e6,
                           result.floorNanosecondsPerUpdateP50),
                    String(format: "%.2f", ratio))],
            target: "≥ 2,000,000/s and 0 allocations/update", targetMet: rateMet && allocationsMet,
            json: .object([
                ("unit", .string("quote updates per second, one core, 1,000 event pairs")),
                ("updates_per_second_p50", .number(result.updatesPerSecondP50)),
                ("updates_per_second_min", .number(result.updatesPerSecondMin)),
                ("ns_per_update_p50", .number(result.nanosecondsPerUpdateP50)),
                ("rounds", .integer(result.rounds)), ("updates_per_round", .integer(result.updatesPerRound)),
                ("candidates_per_65536_updates", .integer(result.candidatesPerPass)),
                ("allocations_per_update", result.allocations.map { .number($0.perUpdate) } ?? .null),
                ("allocations", .object(allocationJSON)),
                ("baseline", .string("floor: the same quotes written to a flat book array at precomputed slots with the pair sum; no lookup, fees or candidate")),
                ("baseline_updates_per_second_p50", .number(result.floorUpdatesPerSecondP50)),
                ("ratio", .number(ratio)), ("ratio_definition", .string("baseline rate / detector rate")),
                ("target", .string(">= 2000000 updates/s and 0 heap allocations per update")),
                ("target_met", .bool(rateMet && allocationsMet)),
            ]))
    }

    static func recovery(_ result: RecoveryPerOpportunity.Result) -> Figure {
        let bracket = [result.rawBefore, result.rawAfter].compactMap { $0 }
        let baselineMean = bracket.map(\.mean).reduce(0, +) / Double(max(1, bracket.count))
        let ratio = result.microsecondsPerOpportunity / baselineMean
        let met = ratio <= 1.5
        // The disk's fsync latency changed under the recovery: the ratio is then only indicative.
        let drifted = bracket.count == 2 && max(bracket[0].mean, bracket[1].mean) > 2 * min(bracket[0].mean, bracket[1].mean)
        func counts(_ values: [String: Int]) -> JSON {
            .object(values.sorted { $0.key < $1.key }.map { ($0.key, .integer($0.value)) })
        }
        return Figure(
            name: "recovery_per_opportunity",
            rows: [("\(result.opportunities) opportunities", String(format: "%.1f µs/opportunity (%.1f s)",
                                                                   result.microsecondsPerOpportunity, result.totalSeconds),
                    String(format: "raw full commit mean %.1f µs (before %.1f, after %.1f)", baselineMean,
                           result.rawBefore?.mean ?? .nan, result.rawAfter?.mean ?? .nan),
                    String(format: "%.2f", ratio) + (drifted ? " (disk drifted)" : "")),
                   ("  same at normal", String(format: "%.1f µs/opportunity", result.microsecondsPerOpportunityAtNormal), "", "")],
            target: "≤ 1.5 × raw full commit", targetMet: met,
            json: .object([
                ("unit", .string("µs per non-terminal opportunity: Reconciler.run() wall time / opportunities, trader at full")),
                ("opportunities", .integer(result.opportunities)),
                ("concurrency", .integer(Reconciler.concurrencyForRuns)),
                ("us_per_opportunity", .number(result.microsecondsPerOpportunity)),
                ("total_seconds", .number(result.totalSeconds)),
                ("us_per_opportunity_at_normal", .number(result.microsecondsPerOpportunityAtNormal)),
                ("seeded", counts(result.seededByKind)), ("closed", counts(result.closedByOutcome)),
                ("baseline", .string("raw full commit (the transition_commit raw loop), measured just before and just after the recovery")),
                ("baseline_before", result.rawBefore?.json ?? .null), ("baseline_after", result.rawAfter?.json ?? .null),
                ("baseline_us", .number(baselineMean)),
                ("baseline_drifted", .bool(drifted)),
                ("ratio", .number(ratio)),
                ("ratio_definition", .string("us_per_opportunity / mean of the bracketing raw full commits' means")),
                ("target", .string("ratio <= 1.5")), ("target_met", .bool(met)),
            ]))
    }

    static func demoPeakRSS(_ result: DemoPeakRSS.Result) -> Figure {
        let met = result.demoKiB <= DemoPeakRSS.targetKiB
        let ratio = Double(result.demoKiB) / Double(result.idleKiB)
        return Figure(
            name: "demo_peak_rss",
            rows: [("arb run \(result.seconds) s", String(format: "%.1f MiB", Double(result.demoKiB) / 1_024),
                    String(format: "arb --version %.1f MiB", Double(result.idleKiB) / 1_024), String(format: "%.2f", ratio))],
            target: "≤ 64 MiB", targetMet: met,
            json: .object([
                ("unit", .string("peak resident set (wait4 ru_maxrss) of `arb run` on the built-in demo")),
                ("peak_rss_mib", .number(Double(result.demoKiB) / 1_024)), ("peak_rss_kib", .integer(result.demoKiB)),
                ("duration_seconds", .integer(result.seconds)), ("binary", .string(result.arbPath)),
                ("baseline", .string("peak RSS of the same binary running `arb --version`")),
                ("baseline_peak_rss_mib", .number(Double(result.idleKiB) / 1_024)),
                ("method", .string("fork + execve, wait4 ru_maxrss; run first, while arb-bench's own anonymous RSS (the most a forked child inherits) is \(result.parentAnonymousKiB) KiB")),
                ("ratio", .number(ratio)), ("ratio_definition", .string("demo peak / --version peak")),
                ("target", .string("peak_rss_mib <= 64")), ("target_met", .bool(met)),
            ]))
    }

    // MARK: - Text

    static func signing(_ pair: Signing.Pair, name: String, what: String, raw: String) -> Figure {
        let met = pair.ratio <= 1.2
        return Figure(
            name: name,
            rows: [("", latency(pair.measured), raw + " " + latency(pair.raw), String(format: "%.2f", pair.ratio))],
            target: "p99 ≤ 1.2 × the library call", targetMet: met,
            json: .object([
                ("unit", .string("µs per signature: " + what)), ("latency", pair.measured.json),
                ("baseline", .string(raw)), ("baseline_latency", pair.raw.json), ("ratio", .number(pair.ratio)),
                ("ratio_definition", .string("p99 / baseline p99")),
                ("target", .string("ratio <= 1.2")), ("target_met", .bool(met)),
            ]))
    }

    static func commitBesideDashboard(_ result: CommitBesideDashboard.Result) -> Figure {
        Figure(
            name: "commit_beside_dashboard",
            rows: [("normal, a page every 62.5 ms (4 browsers)", latency(result.polling) + " (\(result.pagesPolling) pages)",
                    "quiet, interleaved " + latency(result.quiet), String(format: "%.2f (p99 %.2f)", result.ratioPolling,
                                                                           result.polling.p99 / result.quiet.p99)),
                   ("  pages flat out (worst case, not targeted)", latency(result.flatOut) + " (\(result.pagesFlatOut) pages)", "",
                    String(format: "%.2f (p99 %.2f)", result.ratioFlatOut, result.flatOut.p99 / result.quiet.p99))],
            target: "ratio ≤ 1.10 beside a polling dashboard", targetMet: result.targetMet,
            json: .object([
                ("unit", .string("µs per transition commit at synchronous=NORMAL, commits 0.5 ms apart, while the dashboard renders its page from a read-only connection")),
                ("polling", result.polling.json), ("quiet", result.quiet.json), ("flat_out", result.flatOut.json),
                ("pages_polling", .number(Double(result.pagesPolling))), ("pages_flat_out", .number(Double(result.pagesFlatOut))),
                ("baseline", .string("the same commits with no reader, in alternating blocks of the same loop")),
                ("ratio", .number(result.ratioPolling)), ("ratio_flat_out", .number(result.ratioFlatOut)),
                ("target", .string("ratio <= 1.10 (polling: a page every 62.5 ms, as serve with four browsers on /events)")),
                ("target_met", .bool(result.targetMet)),
            ]))
    }

    static func bookUpdateThroughput(_ result: BookUpdateThroughput.Result) -> Figure {
        func allocText(_ venue: BookUpdateThroughput.VenueResult) -> String {
            venue.allocations.map { "\($0.allocations) allocs in \($0.updates) msgs" } ?? "allocations not counted"
        }
        func row(_ venue: BookUpdateThroughput.VenueResult, _ label: String) -> (String, String, String, String) {
            (label, String(format: "%.2f M/s (%.0f ns), ", venue.messagesPerSecondP50 / 1e6, 1e9 / venue.messagesPerSecondP50) + allocText(venue),
             String(format: "parser alone %.2f M/s (%.0f ns)", venue.parserMessagesPerSecondP50 / 1e6, 1e9 / venue.parserMessagesPerSecondP50),
             String(format: "%.2f", venue.ratio))
        }
        func json(_ venue: BookUpdateThroughput.VenueResult) -> JSON {
            var allocation: [(String, JSON)] = [("method", .string(venue.allocationNote))]
            if let count = venue.allocations {
                allocation += [("command", .string(count.command)), ("messages_traced", .integer(count.updates)),
                               ("allocations_traced", .integer(count.allocations))]
            }
            return .object([
                ("messages_per_second_p50", .number(venue.messagesPerSecondP50)),
                ("messages_per_second_min", .number(venue.messagesPerSecondMin)),
                ("ns_per_message_p50", .number(1e9 / venue.messagesPerSecondP50)),
                ("quotes_per_message", .number(venue.quotesPerMessage)),
                ("bytes_per_message", .number(venue.averageMessageBytes)),
                ("allocations_per_message", venue.allocations.map { .number($0.perUpdate) } ?? .null),
                ("allocations", .object(allocation)),
                ("baseline_messages_per_second_p50", .number(venue.parserMessagesPerSecondP50)),
                ("ratio", .number(venue.ratio)),
                ("jsonserialization_messages_per_second_p50", .number(venue.slowMessagesPerSecondP50)),
                ("jsonserialization_allocations_per_message", venue.slowAllocations.map { .number($0.perUpdate) } ?? .null),
                ("rate_met", .bool(venue.rateMet)), ("allocations_met", .bool(venue.allocationsMet)),
            ])
        }
        let met = result.targetMet
        return Figure(
            name: "book_update_throughput",
            rows: [row(result.kalshi, "kalshi orderbook_delta"), row(result.polymarket, "polymarket price_change"),
                   ("JSONSerialization path (before)",
                    String(format: "kalshi %.0f k/s, polymarket %.0f k/s", result.kalshi.slowMessagesPerSecondP50 / 1e3,
                           result.polymarket.slowMessagesPerSecondP50 / 1e3)
                        + ", allocs/msg " + [result.kalshi, result.polymarket].map { venue in
                            venue.slowAllocations.map { String(format: "%.1f", $0.perUpdate) } ?? "?" }.joined(separator: " / "),
                    "", "")],
            target: "≥ 500,000 msg/s each and 0 allocations/msg", targetMet: met,
            json: .object([
                ("unit", .string("messages per second, one core: recorded-shape JSON text parsed, applied to the local book, quotes out (300 markets a venue)")),
                ("kalshi", json(result.kalshi)), ("polymarket", json(result.polymarket)),
                ("rounds", .integer(result.rounds)), ("messages_per_round", .integer(result.messagesPerRound)),
                ("baseline", .string("the same bytes through the fast parser alone (no book touched), in the same rounds")),
                ("ratio", .number(max(result.kalshi.ratio, result.polymarket.ratio))),
                ("ratio_definition", .string("baseline rate / measured rate; the larger of the two venues")),
                ("target", .string(">= 500000 messages/s for each venue and 0 heap allocations per message after warm-up")),
                ("target_met", .bool(met)),
            ]))
    }

    static func wireDetectToRequest(_ result: WireDetectToRequest.Result) -> Figure {
        let baseline = result.rawInterleaved
        let ratio = result.latency.p99 / baseline.p99
        let met = ratio <= 1.25
        return Figure(
            name: "wire_detect_to_request",
            rows: [("full", latency(result.latency), "raw full commit, interleaved " + latency(baseline), String(format: "%.2f", ratio)),
                   ("  book message → candidate", latency(result.toCandidate), "", ""),
                   ("  begin commit on the path (Ledger.begin)", latency(result.beginCommit), "",
                    String(format: "%.2f", result.beginCommit.p99 / baseline.p99)),
                   ("    its inserts and both prepares, up to COMMIT", latency(result.beginUpToCommit), "", ""),
                   ("    its COMMIT (WAL write, fdatasync)", latency(result.beginCommitStatement), "",
                    String(format: "%.2f", result.beginCommitStatement.p99 / baseline.p99)),
                   ("  begin commit returned → both requests received", latency(result.commitToRequests), "", ""),
                   ("  not in the figure: setBook → frame in the socket", latency(result.exchangeToSocket), "", "")],
            target: "p99 ≤ 1.25 × raw full commit p99", targetMet: met,
            json: .object([
                ("unit", .string("µs from the completing book message written into the trader's websocket by the loopback exchange to both order requests fully received by its HTTP servers")),
                ("latency", result.latency.json),
                ("baseline", .string("raw full commit (the transition_commit raw loop) interleaved with these iterations")),
                ("baseline_latency", baseline.json),
                ("ratio", .number(ratio)), ("ratio_definition", .string("p99 / interleaved raw full commit p99")),
                ("to_candidate", result.toCandidate.json),
                ("begin_commit", result.beginCommit.json),
                ("begin_commit_ratio_p99", .number(result.beginCommit.p99 / baseline.p99)),
                ("begin_up_to_commit", result.beginUpToCommit.json),
                ("begin_commit_statement", result.beginCommitStatement.json),
                ("begin_commit_statement_ratio_p99", .number(result.beginCommitStatement.p99 / baseline.p99)),
                ("commit_to_requests", result.commitToRequests.json),
                ("exchange_to_socket", result.exchangeToSocket.json),
                ("hedged", .integer(result.hedged)),
                ("venue", .string("in-process loopback exchange (Kalshi and Polymarket over HTTP and websockets on 127.0.0.1, zero latency, every order filled), the real adapters")),
                ("target", .string("p99 <= 1.25 x raw full commit p99")), ("target_met", .bool(met)),
            ]))
    }

    static func latency(_ summary: LatencySummary) -> String {
        "p50 \(number(summary.p50)) / p99 \(number(summary.p99)) µs"
    }

    static func number(_ value: Double) -> String {
        value >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value)
    }

    static func table(_ figures: [Figure], quick: Bool, disk: String, load: String) -> String {
        var lines = ["arb-bench\(quick ? " --quick (smoke run: indicative only)" : "") — disk \(disk)", load, ""]
        var rows: [[String]] = [["figure", "measured", "baseline (same run)", "ratio", "target", "met"]]
        for figure in figures {
            for (index, row) in figure.rows.enumerated() {
                let label = index == 0 ? figure.name + (row.0.isEmpty ? "" : " " + row.0) : "  " + row.0
                rows.append([label, row.1, row.2, row.3, index == 0 ? figure.target : "",
                             index == 0 ? (figure.targetMet ? "yes" : "NO") : ""])
            }
        }
        let widths = (0..<6).map { column in rows.map { $0[column].count }.max() ?? 0 }
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        for row in rows {
            lines.append(zip(row, widths).map { pad($0, $1) }.joined(separator: " | "))
        }
        return lines.joined(separator: "\n")
    }
}
