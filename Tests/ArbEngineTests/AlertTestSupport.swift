import ArbTestSupport
import ArbEngine
import Foundation
import LoopbackHTTP
import OrderStateMachine

/// A fresh directory under the system temp dir, removed when the value is dropped.
final class AlertTestDirectory {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("arb-alert-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// 2024-05-01T12:34:56.789Z
let alertTestTime: Int64 = 1_714_566_896_789

func sampleAlert(_ key: String, text: String = "leg a filled alone", body: String = #"{"opportunity":7,"imbalance":"10.00"}"#) -> NewAlert {
    NewAlert(key: key, kind: "one_sided", severity: .critical, text: text, bodyJSON: body)
}

/// Creates the trader's database with `alerts` in its outbox (each routed to `sinks`) and closes it.
func makeAlertDatabase(_ path: String, sinks: [String], alerts: [NewAlert]) throws {
    let store = try Store(path: path, durability: .normal, alertSinks: sinks)
    for (offset, alert) in alerts.enumerated() {
        try store.insertAlert(alert, opportunity: nil, atMilliseconds: alertTestTime + Int64(offset))
    }
}

func samplePending(_ key: String = "one-sided-7", sink: String, text: String = "leg a filled alone",
                   body: String = #"{"opportunity":7,"imbalance":"10.00"}"#) -> PendingDelivery {
    PendingDelivery(alertID: 1, key: key, kind: "one_sided", severity: .critical, text: text, bodyJSON: body,
                    createdAtMilliseconds: alertTestTime, sink: sink, attempts: 0)
}

/// A sink that fails its first `failures` deliveries and records the (virtual) time of every
/// attempt; `waitForDelivery` returns once one delivery succeeded.
actor TimedSink: AlertSink {
    nonisolated let name: String
    private let clock: any TradingClock
    private var failuresLeft: Int
    private(set) var attemptMilliseconds: [UInt64] = []
    private var delivered = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ name: String, failures: Int, clock: any TradingClock) {
        self.name = name
        self.failuresLeft = failures
        self.clock = clock
    }

    struct Refused: Error {}

    func deliver(_ alert: PendingDelivery) async throws {
        attemptMilliseconds.append(clock.monotonicNanoseconds() / 1_000_000)
        if failuresLeft > 0 {
            failuresLeft -= 1
            throw Refused()
        }
        delivered = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }

    func waitForDelivery() async {
        if delivered { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}

// MARK: - A tiny HTTP/1 server on 127.0.0.1

/// Records every request it gets and answers each with the next scripted status (the last one
/// repeats). Bound to 127.0.0.1 on a port the kernel picks.
final class TestHTTPServer: Sendable {
    struct Request: Sendable {
        var method: String
        var uri: String
        var contentType: String?
        var body: [UInt8]

        var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        }
    }

    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var statuses: [Int]
        private var received: [Request] = []

        init(statuses: [Int]) { self.statuses = statuses }

        /// Records the request and returns the status to answer with.
        func record(_ request: Request) -> Int {
            lock.withLock {
                received.append(request)
                return statuses.count > 1 ? statuses.removeFirst() : statuses.first ?? 200
            }
        }

        var requests: [Request] { lock.withLock { received } }
    }

    let recorder: Recorder
    private let server: LoopbackHTTPServer
    var port: Int { server.port }

    private init(server: LoopbackHTTPServer, recorder: Recorder) {
        self.server = server
        self.recorder = recorder
    }

    static func start(statuses: [Int] = [200]) async throws -> TestHTTPServer {
        let recorder = Recorder(statuses: statuses)
        let server = try await LoopbackHTTPServer.start { request in
            .respond(recorder.record(Request(method: request.method, uri: request.uri, contentType: request.headers["CONTENT-TYPE"],
                                             body: request.body)), "ok")
        }
        return TestHTTPServer(server: server, recorder: recorder)
    }

    func url(_ path: String) -> String { server.url(path) }

    var requests: [Request] { recorder.requests }

    func stop() async {
        await server.stop()
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then closed).
func closedLocalPort() async throws -> Int {
    let server = try await TestHTTPServer.start()
    let port = server.port
    await server.stop()
    return port
}
