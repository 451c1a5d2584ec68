/// How a closed opportunity ended (DESIGN §3). Stored as these exact strings.
public enum CloseOutcome: String, Sendable, Hashable, CaseIterable, Codable {
    /// Both legs filled equally.
    case hedged
    /// Exposure left: the legs' fills are unequal.
    case oneSided = "one_sided"
    /// Nothing filled.
    case noFill = "no_fill"
    /// Never sent: risk gate, stale quote, shutdown.
    case abandoned
    /// Both legs refused by the venues.
    case rejected
    /// Closed by an operator, with a note.
    case manual
    /// A one-sided exposure unwound by buying the missing outcome: the pair is whole.
    case completed
    /// A one-sided exposure unwound by selling the excess back: nothing is held.
    case flattened
}

/// Where an opportunity is in its life (DESIGN §3). `closed` is the only terminal state and always
/// carries its outcome.
public enum OpportunityState: Sendable, Hashable, CustomStringConvertible {
    case detected
    case inFlight
    case legsPlaced
    case filled
    case oneSided
    case cancelAttempted
    /// Cancels done, fills unequal, and the unwind policy is placing orders to take the
    /// exposure back to zero within its loss bound.
    case unwinding
    case closed(CloseOutcome)

    /// The state's stored name: `Detected`, `InFlight`, `LegsPlaced`, `Filled`, `OneSided`,
    /// `CancelAttempted`, `Unwinding`, `Closed`.
    public var name: String {
        switch self {
        case .detected: "Detected"
        case .inFlight: "InFlight"
        case .legsPlaced: "LegsPlaced"
        case .filled: "Filled"
        case .oneSided: "OneSided"
        case .cancelAttempted: "CancelAttempted"
        case .unwinding: "Unwinding"
        case .closed: "Closed"
        }
    }

    public var outcome: CloseOutcome? {
        if case .closed(let outcome) = self { return outcome }
        return nil
    }

    public var isTerminal: Bool { outcome != nil }

    /// Rebuilds a state from its stored columns; nil for anything the schema would not allow.
    public init?(name: String, outcome: String?) {
        switch (name, outcome) {
        case ("Detected", nil): self = .detected
        case ("InFlight", nil): self = .inFlight
        case ("LegsPlaced", nil): self = .legsPlaced
        case ("Filled", nil): self = .filled
        case ("OneSided", nil): self = .oneSided
        case ("CancelAttempted", nil): self = .cancelAttempted
        case ("Unwinding", nil): self = .unwinding
        case ("Closed", let outcome?):
            guard let closeOutcome = CloseOutcome(rawValue: outcome) else { return nil }
            self = .closed(closeOutcome)
        default: return nil
        }
    }

    /// Every state, with `Closed` once per outcome.
    public static let all: [OpportunityState] =
        [.detected, .inFlight, .legsPlaced, .filled, .oneSided, .cancelAttempted, .unwinding]
        + CloseOutcome.allCases.map { .closed($0) }

    /// The non-terminal states' names, for queries.
    public static let liveNames = ["Detected", "InFlight", "LegsPlaced", "Filled", "OneSided", "CancelAttempted", "Unwinding"]

    public var description: String {
        if let outcome { return "Closed(\(outcome.rawValue))" }
        return name
    }
}
