#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import OrderStateMachine

/// Appends each alert as one JSON object per line to a file:
/// `{"id":…,"kind":…,"severity":…,"created_at":"…Z","text":…,"body":{…}}`.
///
/// The file (and any missing parent directory) is created private to the user (0600 / 0700):
/// alerts name positions and amounts. Each line is one `write(2)` on an `O_APPEND` descriptor,
/// then `fsync` of the file and of its directory (whose entry for a just-created file is not
/// durable otherwise; alerts are rare, so syncing it every time costs nothing and survives a
/// failure between the two): `deliver` returns only when the line is on disk, because the
/// dispatcher marks the row delivered next.
/// The file is opened per alert, so a rotated-away log is simply recreated.
public struct FileAlertSink: AlertSink {
    public let name = "file"
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public func deliver(_ alert: PendingDelivery) async throws {
        try append(Array(Self.line(for: alert).utf8))
    }

    /// The alert's JSON line. `body` is the alert's `body_json` embedded as JSON (parsed by the
    /// strict parser, so no number is re-encoded through a Double); a body that is not valid JSON
    /// is embedded as a JSON string rather than lost.
    static func line(for alert: PendingDelivery) -> String {
        let body = (try? StrictJSONParser.parse(Array(alert.bodyJSON.utf8))) ?? .string(alert.bodyJSON)
        return JSONValue.members([
            "id": .string(alert.key),
            "kind": .string(alert.kind),
            "severity": .string(alert.severity.rawValue),
            "created_at": .string(Timestamp.iso8601(alert.createdAtMilliseconds)),
            "text": .string(alert.text),
            "body": body,
        ]).compactText + "\n"
    }

    private func fail(_ what: String, _ code: Int32) -> AlertSinkError {
        .writeFailed(sink: name, detail: "\(what) \(path): \(AlertText.errnoDescription(code))")
    }

    private func append(_ bytes: [UInt8]) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw AlertSinkError.writeFailed(sink: name, detail: "cannot create directory \(directory): \(error)")
            }
        }
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw fail("cannot open", errno) }
        defer { close(descriptor) }
        let writeError = AlertText.writeAll(descriptor, bytes)
        guard writeError == 0 else { throw fail("cannot write", writeError) }
        guard fsync(descriptor) == 0 else { throw fail("cannot fsync", errno) }
        try syncDirectory(directory.isEmpty ? "." : directory)
    }

    private func syncDirectory(_ directory: String) throws {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw fail("cannot open directory of", errno) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw fail("cannot fsync directory of", errno) }
    }
}
