/// Why a configuration was refused: one line that names the field (a path such as
/// `events[2].instruments.kalshi.YES` or `detection.min_edge_bps`), the bad value and what is
/// allowed, e.g.
///
///     config: detection.min_edge_bps is 12000; allowed 0…10000 (basis points of the $1 payout) [arb.json]
///
/// For problems with the file itself (missing, empty, not JSON) the field is empty and the
/// message names the file instead.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the JSON came from: a file path, or a name such as `built-in demo`.
    public var source: String
    /// The field's path (`detection.min_edge_bps`, `events[0].instruments.kalshi.YES`), or empty
    /// for a problem with the whole file.
    public var field: String
    /// What is wrong and what is allowed, e.g. `is 12000; allowed 0…10000 (…)`.
    public var detail: String

    public init(source: String, field: String, detail: String) {
        self.source = source
        self.field = field
        self.detail = detail
    }

    public var description: String {
        let line: String
        if field.isEmpty {
            line = "config: \(source) \(detail)"
        } else {
            line = "config: \(field) \(detail) [\(source)]"
        }
        return MessageText.singleLine(line)
    }
}
