import Foundation

/// One request as the loopback server read it: header names upper-cased.
public struct LoopbackRequest: Sendable {
    public var method: String
    public var uri: String
    public var headers: [String: String]
    public var body: [UInt8]

    public init(method: String, uri: String, headers: [String: String], body: [UInt8]) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
    }

    /// The path without the query.
    public var path: String { String(uri.prefix { $0 != "?" }) }
    public var bodyText: String? { body.isEmpty ? nil : String(decoding: body, as: UTF8.self) }

    /// `?a=1&b=x%20y` → `["a": "1", "b": "x y"]`.
    public var query: [String: String] {
        guard let mark = uri.firstIndex(of: "?") else { return [:] }
        var out: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            out[String(parts[0])] = parts.count > 1 ? String(parts[1]).removingPercentEncoding ?? String(parts[1]) : ""
        }
        return out
    }
}

/// What the server does with a request: answer it (JSON, with a `Date` header), or close the
/// connection with no answer (a lost answer, as a reset or a timeout looks to the client).
public enum LoopbackAnswer: Sendable {
    case respond(Int, String)
    /// An answer that is not JSON (Prometheus text, say), with its content type.
    case respondTyped(Int, String, contentType: String)
    case reset
}

/// An HTTP/1.1 server on 127.0.0.1 (a port the kernel picks) that hands every request to one
/// synchronous function: the tests' venue exchanges and webhook receivers.
public final class LoopbackHTTPServer: Sendable {
    private let server: LoopbackServer
    public var port: Int { server.port }

    private init(server: LoopbackServer) { self.server = server }

    public static func start(_ answer: @escaping @Sendable (LoopbackRequest) -> LoopbackAnswer) async throws -> LoopbackHTTPServer {
        LoopbackHTTPServer(server: try await LoopbackServer.start(answerer: .immediate(answer)))
    }

    public func url(_ path: String) -> String { server.url(path) }

    public func stop() async { await server.stop() }

    /// `Wed, 02 Dec 2026 10:15:30 GMT`, as a `Date` header.
    public static func httpDate(_ date: Date = Date()) -> String { LoopbackServer.httpDate(date) }
}
