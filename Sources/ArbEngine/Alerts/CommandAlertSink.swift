import Foundation
import OrderStateMachine

/// Hands each alert to a program: `argv[0]` (an absolute path) runs with `argv[1...]`, the
/// alert's JSON (`{"id","kind","severity","text","body"}`) on its stdin. Delivered means it exited 0
/// within the timeout; otherwise the delivery fails and is retried. The way to SMS, PagerDuty or
/// anything else without new code.
public final class CommandAlertSink: AlertSink, CustomStringConvertible {
    public let name = "command"
    public let minSeverity: AlertSeverity
    let argv: [String]
    let timeoutMilliseconds: Int64

    public init(argv: [String], timeoutMilliseconds: Int64, minSeverity: AlertSeverity = .info) {
        precondition(!argv.isEmpty, "a command sink needs a program")
        self.argv = argv
        self.timeoutMilliseconds = timeoutMilliseconds
        self.minSeverity = minSeverity
    }

    public var description: String { "CommandAlertSink(\(argv[0]))" }

    static func input(_ alert: PendingDelivery) -> String {
        var members = [JSONMember(key: "id", value: .string(alert.key)), JSONMember(key: "kind", value: .string(alert.kind)),
                       JSONMember(key: "severity", value: .string(alert.severity.rawValue)), JSONMember(key: "text", value: .string(alert.text))]
        if let body = try? StrictJSONParser.parse(Array(alert.bodyJSON.utf8)) { members.append(JSONMember(key: "body", value: body)) }
        return JSONValue.object(members).compactText + "\n"
    }

    public func deliver(_ alert: PendingDelivery) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        let stdin = Pipe()
        process.standardInput = stdin
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let finished = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { finished.continuation.yield($0.terminationStatus); finished.continuation.finish() }
        do { try process.run() } catch {
            throw AlertSinkError.writeFailed(sink: name, detail: "cannot start \(argv[0]): \(error.localizedDescription)")
        }
        let input = Data(Self.input(alert).utf8)
        try? stdin.fileHandleForWriting.write(contentsOf: input)
        try? stdin.fileHandleForWriting.close()
        let timeout = timeoutMilliseconds
        let status: Int32? = await withTaskGroup(of: Int32?.self) { group in
            group.addTask { for await status in finished.stream { return status }; return nil }
            group.addTask { try? await Task.sleep(for: .milliseconds(timeout)); return nil }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let status else {
            process.terminate()
            throw AlertSinkError.writeFailed(sink: name, detail: "\(argv[0]) did not finish within \(timeout) ms (stopped)")
        }
        guard status == 0 else {
            throw AlertSinkError.writeFailed(sink: name, detail: "\(argv[0]) exited \(status)")
        }
    }
}
