import Logging
import OrderStateMachine
import ServiceLifecycle
import Synchronization

/// Detection and execution: recovery first, then quotes until the run's end or a graceful
/// shutdown; every execution started is finished before it returns.
final class TradingService: Service, Sendable {
    let options: TraderOptions
    let ledger: Ledger
    let executor: Executor
    let venues: [String: any Venue]
    let stop: StopSignal
    let clock: any TradingClock
    let logger: Logger
    private let outcome = Mutex<Result<(RunSummary, ReconcileReport), any Error>?>(nil)

    init(options: TraderOptions, ledger: Ledger, executor: Executor, venues: [String: any Venue], stop: StopSignal,
         clock: any TradingClock, logger: Logger) {
        self.options = options
        self.ledger = ledger
        self.executor = executor
        self.venues = venues
        self.stop = stop
        self.clock = clock
        self.logger = logger
    }

    func run() async throws {
        do {
            let recovery = try await Trader.recover(ledger: ledger, venues: venues, gate: executor.gate, clock: clock, logger: logger)
            var summary = RunSummary()
            // A shutdown stops detection through the flag, not by cancelling: executions are
            // never cut off half way.
            await withGracefulShutdownHandler {
                await Trader.trade(options, executor: executor, venues: venues, stop: stop, clock: clock, logger: logger,
                                   summary: &summary)
            } onGracefulShutdown: { [stop] in
                stop.stop()
            }
            outcome.withLock { $0 = .success((summary, recovery)) }
        } catch {
            outcome.withLock { $0 = .failure(error) }
            throw error
        }
    }

    /// What the run did, once the group has ended.
    func result() throws -> (RunSummary, ReconcileReport) {
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
                let ours = (try? await ledger.withStore {
                    try $0.heartbeatLease(pid: holder.pid, host: holder.host, atMilliseconds: clock.nowMilliseconds())
                }) ?? true
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
        await withGracefulShutdownHandler {
            await Trader.handleOrphans(router.orphanEvents, ledger: ledger, logger: logger, clock: clock)
        } onGracefulShutdown: { [router] in
            router.finish()
        }
    }
}
