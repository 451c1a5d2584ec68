#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a market-data file could not be read (an operating error, unlike a bad line, which is skipped).
public struct MarketDataError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var detail: String

    public init(path: String, detail: String) {
        self.path = path
        self.detail = detail
    }

    /// `market data: quotes.jsonl does not exist`
    public var description: String { MessageText.singleLine("market data: \(path) \(detail)") }
}

/// Replays a JSON-lines quote file (see ``QuoteLineDecoder`` for the line format), streaming it
/// through a fixed buffer so a file of any size uses bounded memory.
///
/// A bad line is counted by reason in ``stats``, reported once (to `onSkip`, and kept in
/// ``diagnostics`` up to ``maxKeptDiagnostics``) and skipped; the replay goes on.
///
///     var reader = try QuoteFileReader(path: "quotes.jsonl", instrumentsByVenue: config.instrumentsByVenue)
///     while let quote = try reader.next() { … }
///     print(reader.stats)
///
/// The reader owns an open file (closed when the last copy goes away); copies share its position,
/// so use one value from one task.
public struct QuoteFileReader {
    /// Lines longer than this are skipped as ``QuoteSkipReason/lineTooLong`` without being buffered.
    public static let maxLineBytes = 64 * 1024
    /// How many diagnostics ``diagnostics`` keeps; `onSkip` still sees every one.
    public static let maxKeptDiagnostics = 1_000

    public let path: String
    private let lines: LineSource
    private var decoder: QuoteLineDecoder
    private let onSkip: ((QuoteLineDiagnostic) -> Void)?

    /// The first ``maxKeptDiagnostics`` skipped lines, in file order.
    public private(set) var diagnostics: [QuoteLineDiagnostic] = []
    /// Counts so far.
    public var stats: MarketDataStats { decoder.stats }

    /// Opens `path`. `instrumentsByVenue` (e.g. `config.instrumentsByVenue`) restricts which venues
    /// and instruments are accepted; `nil` accepts all.
    public init(path: String, instrumentsByVenue: [String: Set<String>]? = nil,
                onSkip: ((QuoteLineDiagnostic) -> Void)? = nil) throws(MarketDataError) {
        self.path = path
        self.lines = try LineSource(path: path, maxLineBytes: QuoteFileReader.maxLineBytes)
        self.decoder = QuoteLineDecoder(instrumentsByVenue: instrumentsByVenue)
        self.onSkip = onSkip
    }

    /// The next valid quote, or `nil` at the end of the file. Throws only when the file cannot be read.
    public mutating func next() throws(MarketDataError) -> Quote? {
        while true {
            switch try lines.nextLine() {
            case .end:
                return nil
            case .tooLong(let number):
                report(decoder.skipTooLong(lineNumber: number, limit: QuoteFileReader.maxLineBytes))
            case .line(let number):
                switch decoder.decode(line: lines.line, lineNumber: number) {
                case .quote(let quote): return quote
                case .skipped(let diagnostic): report(diagnostic)
                case .blank: continue
                }
            }
        }
    }

    private mutating func report(_ diagnostic: QuoteLineDiagnostic) {
        if diagnostics.count < QuoteFileReader.maxKeptDiagnostics {
            diagnostics.append(diagnostic)
        }
        onSkip?(diagnostic)
    }
}

/// Owns the file descriptor and the read buffer; splits the stream into lines of bounded length.
private final class LineSource {
    enum Next {
        case line(number: Int)
        case tooLong(number: Int)
        case end
    }

    private let path: String
    private let descriptor: Int32
    private let maxLineBytes: Int
    private var buffer: [UInt8]
    private var bufferStart = 0
    private var bufferEnd = 0
    private var atEndOfFile = false
    private var lineNumber = 0
    /// The current line's bytes (without the newline), valid after `.line`.
    private(set) var line: [UInt8] = []

    init(path: String, maxLineBytes: Int) throws(MarketDataError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            let detail = switch code {
            case ENOENT: "does not exist"
            case EACCES: "cannot be read (permission denied)"
            default: "cannot be opened (\(SmallFile.errorText(code)))"
            }
            throw MarketDataError(path: path, detail: detail)
        }
        var status = stat()
        if fstat(descriptor, &status) == 0, (status.st_mode & mode_t(S_IFMT)) == mode_t(S_IFDIR) {
            close(descriptor)
            throw MarketDataError(path: path, detail: "is a directory; allowed a JSON-lines file")
        }
        self.path = path
        self.descriptor = descriptor
        self.maxLineBytes = maxLineBytes
        self.buffer = [UInt8](repeating: 0, count: 64 * 1024)
        self.line.reserveCapacity(1024)
    }

    deinit {
        close(descriptor)
    }

    func nextLine() throws(MarketDataError) -> Next {
        line.removeAll(keepingCapacity: true)
        var sawBytes = false
        var tooLong = false
        while true {
            if bufferStart == bufferEnd {
                if atEndOfFile { break }
                try refill()
                continue
            }
            sawBytes = true
            let newline = buffer[bufferStart..<bufferEnd].firstIndex(of: 0x0A)
            let segmentEnd = newline ?? bufferEnd
            if !tooLong {
                if line.count + (segmentEnd - bufferStart) <= maxLineBytes {
                    line.append(contentsOf: buffer[bufferStart..<segmentEnd])
                } else {
                    tooLong = true
                    line.removeAll(keepingCapacity: true)
                }
            }
            if let newline {
                bufferStart = newline + 1
                lineNumber += 1
                return tooLong ? .tooLong(number: lineNumber) : .line(number: lineNumber)
            }
            bufferStart = bufferEnd
        }
        // End of file: a last line without a newline still counts.
        guard sawBytes else { return .end }
        lineNumber += 1
        return tooLong ? .tooLong(number: lineNumber) : .line(number: lineNumber)
    }

    private func refill() throws(MarketDataError) {
        while true {
            let count = buffer.withUnsafeMutableBytes { raw in read(descriptor, raw.baseAddress, raw.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw MarketDataError(path: path, detail: "cannot be read (\(SmallFile.errorText(errno)))")
            }
            bufferStart = 0
            bufferEnd = count
            if count == 0 { atEndOfFile = true }
            return
        }
    }
}
