import Logging
import OrderStateMachine
import ServiceLifecycle
import Synchronization

/// A caller's own work as the group's last service: when it ends, the group shuts down.
final class WorkService<Value: Sendable>: Service, Sendable {
    private let work: @Sendable () async throws -> Value
    private let outcome = Mutex<Result<Value, any Error>?>(nil)

    init(_ work: @escaping @Sendable () async throws -> Value) {
        self.work = work
    }

    func run() async throws {
        do {
            let value = try await work()
            outcome.withLock { $0 = .success(value) }
        } catch {
            outcome.withLock { $0 = .failure(error) }
            throw error
        }
    }

    /// What the work returned or threw, once the group has ended.
    func result() throws -> Value {
        guard let outcome = outcome.withLock({ $0 }) else { throw CancellationError() }
        return try outcome.get()
    }
}

/// Delivers alerts until shutdown, then drains what is pending (bounded) and closes the sinks.
struct AlertDeliveryService: Service {
    let dispatcher: AlertDispatcher
    let sinks: [any AlertSink]

    func run() async throws {
        // The delivery loop keeps running while the drain finishes what is pending (a delivery
        // in flight is not cut off); then it stops and the sinks close.
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await dispatcher.run(pollMilliseconds: 50) }
            try? await gracefulShutdown()
            await dispatcher.drain(timeoutMilliseconds: 2_000)
            group.cancelAll()
        }
        for sink in sinks { await sink.shutdown() }
    }
}

/// Refreshes the runner lease; a lease taken over by another process stops trading.
struct LeaseHeartbeatService: Service {
    let ledger: Ledger
    let holder: LeaseHolder
    let databasePath: String
    let stop: StopSignal
    let clock: any TradingClock
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await clock.sleep(milliseconds: Trader.heartbeatMilliseconds) } catch { return }
                let beat = clock.nowMilliseconds()
                let ours = (try? await ledger.withStore {
                    try $0.heartbeatLease(pid: holder.pid, host: holder.host, atMilliseconds: beat)
                }) ?? true
                if ours { TraderMetrics.heartbeat(atMilliseconds: beat) }
                if !ours {
                    logger.critical("\(TraderError.leaseLost(path: databasePath))")
                    stop.stop()
                }
            }
        }
    }
}

/// Each venue's event stream into the router, until shutdown.
struct VenueFeedsService: Service {
    let venues: [String: any Venue]
    let router: EventRouter

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { feeds in
                for venue in venues.values {
                    feeds.addTask { for await event in venue.events { await router.route(event) } }
                }
            }
            // A venue without a push feed ends its stream at once; returning would end the
            // whole group (a service's return cancels it): stay up until the shutdown.
            try? await gracefulShutdown()
        }
    }
}

/// Records fills no execution owns. Shut down last: it drains everything queued, then ends.
struct OrphanRecorderService: Service {
    let router: EventRouter
    let ledger: Ledger
    let clock: any TradingClock
    let logger: Logger

    func run() async throws {
        let unrecorded = await withGracefulShutdownHandler {
            await Trader.handleOrphans(router.orphanEvents, ledger: ledger, logger: logger, clock: clock)
        } onGracefulShutdown: { [router] in
            router.finish()
        }
        if !unrecorded.isEmpty { throw UnrecordedFills(fills: unrecorded) }
    }
}

/// Fills the store would not record however often it was asked: the run fails with their ids
/// (each was logged as critical with its details); the venue still has them.
public struct UnrecordedFills: Error, CustomStringConvertible {
    public var fills: [FillReport]
    public var description: String {
        "\(fills.count) fill(s) could not be recorded (\(fills.prefix(5).map(\.tradeID).joined(separator: ", "))"
            + "\(fills.count > 5 ? ", …" : "")); their details are in the critical log lines above — fix the database's disk, then run arbadmin reconcile"
    }
}
