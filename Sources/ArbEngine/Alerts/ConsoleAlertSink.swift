#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OrderStateMachine

/// Writes each alert as one line to standard error (or another descriptor, for tests):
/// `ALERT critical one_sided [key]: text`. Not `print`: standard output is for command output,
/// and a direct `write(2)` fails visibly instead of sitting in a buffer.
public struct ConsoleAlertSink: AlertSink {
    public let name = "console"
    private let descriptor: Int32

    public init(fileDescriptor: Int32 = STDERR_FILENO) {
        self.descriptor = fileDescriptor
    }

    public func deliver(_ alert: PendingDelivery) async throws {
        let line = Self.line(for: alert)
        let error = AlertText.writeAll(descriptor, Array(line.utf8))
        guard error == 0 else { throw AlertSinkError.writeFailed(sink: name, detail: AlertText.errnoDescription(error)) }
    }

    static func line(for alert: PendingDelivery) -> String {
        "ALERT \(alert.severity.rawValue) \(alert.kind) [\(alert.key)]: \(alert.text)\n"
    }
}
