/// A websocket server on 127.0.0.1 for the book feeds' tests: it decides per handshake whether
/// to accept (a refused one gets HTTP 401), hands each text message to the test, and lets the
/// test send text or drop the connection. Pings are answered.
public final class LoopbackWebSocketServer: Sendable {
    public typealias Connection = LoopbackConnection

    private let server: LoopbackServer
    public var port: Int { server.port }

    private init(server: LoopbackServer) { self.server = server }

    public func url(_ path: String) -> String { "ws://127.0.0.1:\(port)\(path)" }

    public func stop() async { await server.stop() }

    public static func start(accept: @escaping @Sendable (_ path: String, _ headers: [String: String]) -> Bool,
                             connected: @escaping @Sendable (Connection) -> Void,
                             text: @escaping @Sendable (Connection, String) -> Void) async throws -> LoopbackWebSocketServer {
        let routes = LoopbackWebSocketRoutes(accept: accept, connected: connected, text: text)
        return LoopbackWebSocketServer(server: try await LoopbackServer.start(websocket: routes, answerer: .immediate { _ in
            .respond(401, #"{"error":"handshake refused"}"#)
        }))
    }
}
