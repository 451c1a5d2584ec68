#if canImport(Glibc)
import Glibc
#endif

/// The steps at which `ARB_CRASH_AT=<point>` makes the process `_exit(137)`, for crash tests.
/// `_exit` skips every handler and buffer flush, like `kill -9`.
public enum FaultPoint: String, Sendable, CaseIterable {
    /// Inside the commit that creates the opportunity, before it lands: nothing is persisted.
    case afterDetected = "after-detected"
    /// `InFlight` with both legs' intents is committed; nothing sent yet.
    case afterInflightCommit = "after-inflight-commit"
    /// Leg A's submit has been answered (leg B may or may not have been sent).
    case afterSubmitLegA = "after-submit-leg-a"
    /// Both submits answered; nothing about them persisted yet.
    case afterSubmitBoth = "after-submit-both"
    /// The first fill of an opportunity is known in memory, not yet persisted.
    case afterFirstFill = "after-first-fill"
    /// The cancel of the unfilled leg has been answered by its venue; `OneSided` not yet committed.
    case afterCancelSent = "after-cancel-sent"
    /// `OneSided` with its alert, and `CancelAttempted` with the cancel's result, are committed.
    case afterOneSidedCommit = "after-onesided-commit"
    /// Just before the commit that closes an opportunity.
    case beforeClose = "before-close"
    /// An unwind order is committed (the first with `Unwinding`); nothing of it sent yet.
    case afterUnwindCommit = "after-unwind-commit"
    /// An unwind order's submit has been answered by its venue; its answer and fills not persisted.
    case afterUnwindSubmit = "after-unwind-submit"

    /// The points the simulator picks from: all of them (its scenarios unwind too).
    public static let simulated: [FaultPoint] = allCases
}

/// A crash the simulator injects: thrown at a fault point instead of exiting, so the simulator
/// can drop everything in memory and restart from the files, as a real crash would leave them.
public struct SimulatedCrash: Error, Sendable, Equatable {
    public let point: FaultPoint
}

/// Which fault point, if any, this process dies at.
public struct FaultPoints: Sendable {
    public enum Action: Sendable {
        /// `_exit(137)`: the process is gone (ARB_CRASH_AT).
        case exitProcess
        /// Throw `SimulatedCrash` (the simulator), after calling `onCrash`: the moment the
        /// simulated process dies, before anything else of it can run.
        case throwCrash
        /// `kill(getpid(), SIGKILL)`: the simulator's child-process mode, a real hot WAL.
        case killProcess
    }

    public let armed: FaultPoint?
    public let action: Action
    let onCrash: (@Sendable (FaultPoint) -> Void)?

    public init(armed: FaultPoint?, action: Action = .exitProcess, onCrash: (@Sendable (FaultPoint) -> Void)? = nil) {
        self.armed = armed
        self.action = action
        self.onCrash = onCrash
    }

    /// Reads `ARB_CRASH_AT`; an unknown value is a usage error reported by the caller.
    public static func fromEnvironment(_ environment: [String: String]) -> Result<FaultPoints, FaultPointError> {
        guard let value = environment["ARB_CRASH_AT"], !value.isEmpty else { return .success(FaultPoints(armed: nil)) }
        guard let point = FaultPoint(rawValue: value) else { return .failure(FaultPointError(value: value)) }
        return .success(FaultPoints(armed: point))
    }

    @inline(__always)
    public func hit(_ point: FaultPoint) throws(SimulatedCrash) {
        guard armed == point else { return }
        switch action {
        case .exitProcess: _exit(137)
        case .killProcess:
            kill(getpid(), SIGKILL)
            _exit(137)
        case .throwCrash:
            onCrash?(point)
            throw SimulatedCrash(point: point)
        }
    }

    public func isArmed(_ point: FaultPoint) -> Bool { armed == point }
}

public struct FaultPointError: Error, Sendable, CustomStringConvertible {
    public let value: String
    public var description: String {
        "ARB_CRASH_AT=\(value) is not a fault point; use one of: \(FaultPoint.allCases.map(\.rawValue).joined(separator: ", "))"
    }
}
