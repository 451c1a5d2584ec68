import OrderStateMachine

/// Where the trader's files live. The database path is relative to the working directory; every
/// other file the config names (paper venue state, alert log) is resolved beside the database, so
/// one `--db` flag moves a whole run.
extension TraderConfig {
    /// The directory holding the database: `""` (the working directory) for a bare file name.
    public var databaseDirectory: String {
        guard let slash = databasePath.lastIndex(of: "/") else { return "" }
        if slash == databasePath.startIndex { return "/" }
        return String(databasePath[..<slash])
    }

    /// The paper venue's own SQLite file: its configured `state_file` (absolute, or relative to the
    /// database's directory), or `paper-<venue>.db` beside the database.
    public func paperStatePath(venue: String) -> String {
        let configured = venues[venue]?.paper?.stateFile
        return resolvedBesideDatabase(configured ?? "paper-\(venue).db")
    }

    /// A real venue's adapter pointed at the loopback exchange (`arb-exchange`): the exchange's
    /// own file for it, `loopback-<venue>.db` beside the database, which audits read as they read a
    /// paper venue's. Nil for a paper venue, or a real venue's adapter pointed anywhere else.
    public func loopbackStatePath(venue: String) -> String? {
        let url: String
        switch venues[venue]?.settings {
        case .kalshi(let kalshi): url = kalshi.baseURL
        case .polymarket(let polymarket): url = polymarket.baseURL
        case .paper, nil: return nil
        }
        return VenueURL.isLoopback(url) ? resolvedBesideDatabase("loopback-\(venue).db") : nil
    }

    /// The JSON-lines alert log (absolute, or relative to the database's directory), or `nil` when
    /// `alerts.file` is `null`.
    public var alertFilePath: String? {
        alerts.filePath.map(resolvedBesideDatabase)
    }

    /// `path` unchanged when absolute, else joined to ``databaseDirectory``.
    public func resolvedBesideDatabase(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        let directory = databaseDirectory
        if directory.isEmpty { return path }
        return directory.hasSuffix("/") ? directory + path : directory + "/" + path
    }

    /// For each venue, the instrument ids the events name: what a market-data reader should accept.
    public var instrumentsByVenue: [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        for venue in venues.keys { result[venue] = [] }
        for event in events {
            for (venue, byOutcome) in event.instruments {
                result[venue, default: []].formUnion(byOutcome.values)
            }
        }
        return result
    }

    /// The fee model for `venue` on `event`: the event's override, else the venue's fee.
    public func feeModel(event: EventPair, venue: String) -> FeeModel? {
        event.fees[venue] ?? venues[venue]?.fee
    }
}
