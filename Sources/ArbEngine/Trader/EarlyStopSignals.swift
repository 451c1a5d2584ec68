import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A stop signal that arrives before the trader's service group listens (while the config is
/// read, the database opened, the lease taken) would otherwise kill the process outright. `arb
/// run` installs this first thing; the group replaces the handlers when it starts, and the
/// trader's work asks ``wasReceived`` first, so an early SIGINT/SIGTERM becomes the same graceful
/// stop as a later one (recovery still finishes what a crash left; nothing new is traded).
public enum EarlyStopSignals {
    private static let received = Atomic<Bool>(false)

    /// Catches `signals` until someone else (the service group) installs its own handling.
    public static func install(_ signals: [UnixSignal]) {
        for unixSignal in signals {
            // A lock-free atomic store is safe in a signal handler.
            signal(unixSignal.rawValue) { _ in EarlyStopSignals.received.store(true, ordering: .relaxed) }
        }
    }

    public static var wasReceived: Bool { received.load(ordering: .relaxed) }
}
