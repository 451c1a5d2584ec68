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

/// One request, written out whole, and where it goes (`VenueHTTPTransport.prepare`).
public struct PreparedVenueRequest: Sendable {
    let origin: HTTPOrigin
    let method: HTTPMethod
    /// `POST /order`: the method and the URL without scheme and host, for messages.
    let description: String
    let bytes: ByteBuffer
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
        try await send(try prepare(method: method, url: url, headers: headers, body: body), timeoutMilliseconds: timeoutMilliseconds)
    }

    /// The request as it will go on the wire (head and body, HTTP/1.1), written before it is due:
    /// an order's request is built beside the intent commit and `send` only hands the bytes over.
    /// Refuses, with nothing sent, a URL that is not http(s) or a header holding a line break.
    public func prepare(method: String, url: String, headers: [(String, String)],
                        body: String?) throws(VenueTransportError) -> PreparedVenueRequest {
        guard let (origin, target) = HTTPOrigin.split(url) else {
            throw VenueTransportError(description: "\(method) \(Self.pathOnly(url)): not an http:// or https:// URL with a host; nothing was sent")
        }
        guard Self.isToken(method) else {
            throw VenueTransportError(description: "\(method) \(Self.pathOnly(url)): not an HTTP method; nothing was sent")
        }
        var text = method + " " + target + " HTTP/1.1\r\nHost: " + origin.hostHeader + "\r\n"
        for (name, value) in headers {
            guard Self.isToken(name), Self.isHeaderText(value) else {
                throw VenueTransportError(description: "\(method) \(Self.pathOnly(url)): header \(name) holds a line break or control character; nothing was sent")
            }
            text += name + ": " + value + "\r\n"
        }
        text += "Accept: application/json\r\n"
        if let body {
            text += "Content-Type: application/json\r\nContent-Length: " + String(body.utf8.count) + "\r\n\r\n" + body
        } else if method == "POST" || method == "PUT" || method == "PATCH" {
            text += "Content-Length: 0\r\n\r\n"
        } else {
            text += "\r\n"
        }
        return PreparedVenueRequest(origin: origin, method: HTTPMethod(rawValue: method), description: method + " " + Self.pathOnly(url),
                                    bytes: ByteBuffer(string: text))
    }

    /// Sends a prepared request and reads the whole answer.
    public func send(_ request: PreparedVenueRequest, timeoutMilliseconds: Int64) async throws(VenueTransportError) -> VenueHTTPResponse {
        let started = ContinuousClock.now
        defer {
            Metrics.Timer(label: "arb_venue_request_seconds", dimensions: [("host", request.origin.hostHeader), ("method", request.method.rawValue)])
                .record(duration: ContinuousClock.now - started)
        }
        do {
            return try await connections.send(request, deadline: started + .milliseconds(timeoutMilliseconds), maxBodyBytes: Self.maxBodyBytes)
        } catch {
            throw VenueTransportError(description: "\(request.description): \(error)")
        }
    }

    /// An HTTP token (a method or a header name): letters, digits and `!#$%&'*+-.^_`|~`.
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || "!#$%&'*+-.^_`|~".utf8.contains(byte)
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
