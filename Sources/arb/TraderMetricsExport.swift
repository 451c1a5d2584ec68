import LoopbackHTTP
import Metrics
import Prometheus

/// `arb run --metrics-listen 127.0.0.1:PORT`: swift-metrics bootstrapped with the Prometheus
/// backend, its registry served as text at `/metrics` by LoopbackHTTP's NIO server (loopback only;
/// no web framework in the trader's build).
struct TraderMetricsExport: Sendable {
    let server: LoopbackServer
    var url: String { server.url("/metrics") }

    /// The port of `127.0.0.1:PORT` (or `localhost:PORT`); nil for anything else.
    static func port(_ text: String) -> Int? {
        guard let colon = text.lastIndex(of: ":"), ["127.0.0.1", "localhost"].contains(String(text[..<colon])),
              let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else { return nil }
        return port
    }

    static func start(port: Int) async throws -> TraderMetricsExport {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // A commit takes well under a millisecond and a venue request tens: buckets from 50 µs.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
            .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
        ]
        MetricsSystem.bootstrap(factory)
        let server = try await LoopbackServer.start(port: port, answerer: .immediate { request in
            guard request.path == "/metrics" else { return .respond(404, #"{"error": "only /metrics is served here"}"#) }
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return .respondTyped(200, String(decoding: buffer, as: UTF8.self), contentType: "text/plain; version=0.0.4; charset=utf-8")
        })
        return TraderMetricsExport(server: server)
    }

    func stop() async { await server.stop() }
}
