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

/// Sends one request to a venue and reads the whole answer over kept-alive HTTP/1.1 connections
/// (every real venue's adapter uses it): `KeptHTTP1Connections`, one request at a time per
/// connection, straight on SwiftNIO — an order's request is one hop to its connection's event
/// loop and a socket write.
///
/// `shared` is the process's one pool, never shut down: a venue can be dropped on any error path
/// without leaking a connection. Another instance should be `shutdown()` once at the end.
public final class VenueHTTPTransport: Sendable {
    public static let shared = VenueHTTPTransport()

    /// The largest answer read (a page of 200 orders is well under this).
    static let maxBodyBytes = 4 * 1024 * 1024

    let connections: KeptHTTP1Connections

    /// `additionalTrustRootsFile`: PEM certificates trusted beside the system's (a test's own
    /// certificate authority).
    public init(connectTimeoutMilliseconds: Int64 = 3_000, idleLimit: Duration = .seconds(60),
                additionalTrustRootsFile: String? = nil) {
        connections = KeptHTTP1Connections(connectTimeoutMilliseconds: connectTimeoutMilliseconds, idleLimit: idleLimit,
                                           additionalTrustRootsFile: additionalTrustRootsFile)
    }

    public func send(method: String, url: String, headers: [(String, String)], body: String?,
                     timeoutMilliseconds: Int64) async throws(VenueTransportError) -> VenueHTTPResponse {
        let started = ContinuousClock.now
        guard let (origin, target) = HTTPOrigin.split(url) else {
            throw VenueTransportError(description: "\(method) \(Self.pathOnly(url)): not an http:// or https:// URL with a host; nothing was sent")
        }
        defer {
            Metrics.Timer(label: "arb_venue_request_seconds", dimensions: [("host", origin.hostHeader), ("method", method)])
                .record(duration: ContinuousClock.now - started)
        }
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: target)
        head.headers.reserveCapacity(headers.count + 4)
        head.headers.add(name: "Host", value: origin.hostHeader)
        for (name, value) in headers {
            guard Self.isHeaderText(name), Self.isHeaderText(value) else {
                throw VenueTransportError(description: "\(method) \(Self.pathOnly(url)): header \(name) holds a line break or control character; nothing was sent")
            }
            head.headers.add(name: name, value: value)
        }
        head.headers.add(name: "Accept", value: "application/json")
        var buffer: ByteBuffer?
        if let body {
            head.headers.add(name: "Content-Type", value: "application/json")
            head.headers.add(name: "Content-Length", value: String(body.utf8.count))
            buffer = ByteBuffer(string: body)
        } else if head.method == .POST || head.method == .PUT || head.method == .PATCH {
            head.headers.add(name: "Content-Length", value: "0")
        }
        do {
            return try await connections.send(origin: origin, head: head, body: buffer,
                                              deadline: started + .milliseconds(timeoutMilliseconds), maxBodyBytes: Self.maxBodyBytes)
        } catch {
            throw VenueTransportError(description: "\(method) \(Self.pathOnly(url)): \(error)")
        }
    }

    /// No CR, LF or other control character but tab: a header cannot be split or smuggled.
    static func isHeaderText(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }
    }

    public func shutdown() async {
        await connections.shutdown()
    }

    /// The URL without scheme and host, for messages.
    public static func pathOnly(_ url: String) -> String {
        guard let separator = url.range(of: "://") else { return url }
        let rest = url[separator.upperBound...]
        return rest.firstIndex(of: "/").map { String(rest[$0...]) } ?? "/"
    }
}
