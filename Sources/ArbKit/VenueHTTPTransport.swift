import AsyncHTTPClient
import Metrics
import Foundation
import NIOCore
import NIOHTTP1

/// One HTTP answer, whole.
public struct VenueHTTPResponse: Sendable {
    public var status: Int
    /// The `Date` header, for the clock-skew check.
    public var date: String?
    public var body: [UInt8]

    public init(status: Int, date: String?, body: [UInt8]) {
        self.status = status
        self.date = date
        self.body = body
    }
}

/// Why no HTTP answer came back (refused, reset, timed out): the request may or may not have
/// reached the venue.
public struct VenueTransportError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Sends one request to a venue and reads the whole answer over a kept-alive connection pool
/// (every real venue's adapter uses it).
///
/// `shared` is the process's one pool, never shut down (like `HTTPClient.shared`): a venue can be
/// dropped on any error path without leaking a client or tripping its shutdown check. Another
/// instance must be `shutdown()` once at the end.
public final class VenueHTTPTransport: Sendable {
    public static let shared = VenueHTTPTransport()

    /// The largest answer read (a page of 200 orders is well under this).
    static let maxBodyBytes = 4 * 1024 * 1024

    private let client: HTTPClient

    public init(connectTimeoutMilliseconds: Int64 = 3_000) {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .milliseconds(connectTimeoutMilliseconds)))
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 8)
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    public func send(method: String, url: String, headers: [(String, String)], body: String?,
                     timeoutMilliseconds: Int64) async throws(VenueTransportError) -> VenueHTTPResponse {
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let started = ContinuousClock.now
        defer {
            let elapsed = ContinuousClock.now - started
            Metrics.Timer(label: "arb_venue_request_seconds", dimensions: [("host", request.url.hostPart), ("method", method)])
                .record(duration: elapsed)
        }
        do {
            let response = try await client.execute(request, timeout: .milliseconds(timeoutMilliseconds))
            var buffer = try await response.body.collect(upTo: Self.maxBodyBytes)
            return VenueHTTPResponse(status: Int(response.status.code), date: response.headers.first(name: "Date"),
                                      body: buffer.readBytes(length: buffer.readableBytes) ?? [])
        } catch {
            throw VenueTransportError(description: "\(method) \(Self.pathOnly(url)): \(error)")
        }
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    /// The URL without scheme and host, for messages.
    public static func pathOnly(_ url: String) -> String {
        guard let separator = url.range(of: "://") else { return url }
        let rest = url[separator.upperBound...]
        return rest.firstIndex(of: "/").map { String(rest[$0...]) } ?? "/"
    }
}

extension String {
    /// `https://host:port/path` → `host:port` (a metric's label: never a path, which names orders).
    var hostPart: String {
        guard let scheme = range(of: "://") else { return "" }
        return String(self[scheme.upperBound...].prefix { $0 != "/" && $0 != "?" })
    }
}
