import ArbEngine
import Foundation
import Hummingbird
import Logging
import NIOCore
import OrderStateMachine
import ServiceLifecycle

/// `arbadmin serve`: the dashboard page, its live updates (Server-Sent Events), the JSON API, the
/// operator's actions and Prometheus metrics, over the trader database opened read-only for
/// every read (WAL: a reader never blocks the trader's commits).
public enum Dashboard {
    public struct Options: Sendable {
        public var databasePath: String
        public var host: String
        public var port: Int
        /// `ARB_DASHBOARD_TOKEN`: required for every action, and for every request when the
        /// address is not loopback.
        public var token: String?
        /// How often `/events` looks for a new commit.
        public var pollMilliseconds: Int64

        public init(databasePath: String, host: String, port: Int, token: String?, pollMilliseconds: Int64 = 250) {
            self.databasePath = databasePath
            self.host = host
            self.port = port
            self.token = token
            self.pollMilliseconds = pollMilliseconds
        }

        public var isLoopback: Bool { ["127.0.0.1", "::1", "localhost"].contains(host) || host.hasPrefix("127.") }
    }

    /// Why `serve` refuses to start: one line.
    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    /// Checks what can be checked before binding: the token rule and the database.
    public static func validate(_ options: Options) throws {
        if !options.isLoopback && (options.token ?? "").isEmpty {
            throw Refusal(description: "listening on \(options.host) (not loopback) needs a token: set ARB_DASHBOARD_TOKEN (every request must then carry it as `Authorization: Bearer …`), or listen on 127.0.0.1")
        }
        if let token = options.token, !token.isEmpty, token.count < 16 {
            throw Refusal(description: "ARB_DASHBOARD_TOKEN is \(token.count) characters; use at least 16 (e.g. `openssl rand -hex 16`)")
        }
        do {
            _ = try Store(path: options.databasePath, access: .readOnly)
        } catch {
            throw Refusal(description: "cannot read \(options.databasePath): \(error)")
        }
    }

    /// Serves until SIGINT or SIGTERM; `onListening` gets the bound address first.
    public static func run(_ options: Options, onListening: @escaping @Sendable (String) -> Void) async throws {
        try validate(options)
        let router = Router()
        routes(router, options)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "arb"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? options.port
                let host = options.host.contains(":") ? "[\(options.host)]" : options.host
                onListening("http://\(host):\(port)")
            },
            logger: Logger(label: "arb.dashboard", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.runService()
    }

    static func now() -> Int64 { SystemClock().nowMilliseconds() }

    /// What one page load (or one live update) costs the database: the snapshot `/` reads, from
    /// a read-only connection of its own, rendered. The benchmark of the trader beside the
    /// dashboard runs exactly this.
    public static func renderPage(databasePath: String, now: Int64) throws -> String {
        let snapshot = try DashboardSnapshot.read(try Store(path: databasePath, access: .readOnly), now: now)
        return DashboardPage.main(snapshot)
    }

    static func routes(_ router: Router<BasicRequestContext>, _ options: Options) {
        let path = options.databasePath
        router.middlewares.add(TokenMiddleware(token: options.token, everyRequest: !options.isLoopback))

        router.get("/") { _, _ in
            let snapshot = try DashboardSnapshot.read(try Store(path: path, access: .readOnly), now: now())
            return html(DashboardPage.page(title: "arb dashboard", body: DashboardPage.main(snapshot), live: true,
                                           actions: !(options.token ?? "").isEmpty))
        }
        router.get("/fragment") { _, _ in
            let snapshot = try DashboardSnapshot.read(try Store(path: path, access: .readOnly), now: now())
            return html(DashboardPage.main(snapshot))
        }
        router.get("/opportunities/:id") { _, context in
            guard let id = context.parameters.get("id", as: Int64.self) else {
                return html(DashboardPage.page(title: "bad id", body: "<p>Not an opportunity id.</p><p><a href=\"../\">← all</a></p>", live: false),
                            status: .badRequest)
            }
            let store = try Store(path: path, access: .readOnly)
            guard let history = try store.history(of: id) else { return html(DashboardPage.page(title: "not found", body: "<p>No opportunity \(id).</p><p><a href=\"../\">← all</a></p>", live: false), status: .notFound) }
            return html(DashboardPage.page(title: "opportunity \(id)", body: DashboardPage.detail(history, now: now()), live: false))
        }
        router.get("/events") { _, _ in
            events(path: path, pollMilliseconds: options.pollMilliseconds)
        }
        router.get("/metrics") { _, _ in
            let text = try DashboardMetrics.text(try Store(path: path, access: .readOnly), now: now())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        DashboardAPI.routes(router, options)
    }

    /// `/events`: a `change` event whenever another connection committed (`PRAGMA data_version`
    /// moved), a comment every 15 s so proxies keep the stream open.
    static func events(path: String, pollMilliseconds: Int64) -> Response {
        let body = ResponseBody { writer in
            let store = try Store(path: path, access: .readOnly)
            var version = try store.dataVersion()
            try await writer.write(ByteBuffer(string: "retry: 1000\nevent: change\ndata: \(version)\n\n"))
            var quiet: Int64 = 0
            // Ends on SIGTERM/SIGINT too (graceful shutdown), so `serve` stops at once even with
            // a browser attached.
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                try await Task.sleep(for: .milliseconds(pollMilliseconds))
                let latest = try store.dataVersion()
                if latest != version {
                    version = latest
                    quiet = 0
                    try await writer.write(ByteBuffer(string: "event: change\ndata: \(version)\n\n"))
                } else {
                    quiet += pollMilliseconds
                    if quiet >= 15_000 {
                        quiet = 0
                        try await writer.write(ByteBuffer(string: ": still here\n\n"))
                    }
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    static func opportunityID(_ context: BasicRequestContext) throws -> OpportunityID {
        guard let id = context.parameters.get("id", as: Int64.self) else {
            throw AdminFailure("the opportunity id \(context.parameters.get("id") ?? "") is not a whole number; `arbadmin list` shows the ids",
                               exitCode: .usage)
        }
        return id
    }

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Every action needs the token; with a non-loopback address every request does. Compared in
/// constant time; never logged. A browser cannot put a header on a page load, an `EventSource`
/// or a link, so a GET may also carry it once as `?token=…`: the answer then sets it as an
/// HttpOnly, SameSite=Strict cookie that later GETs of the page carry. The cookie is never
/// accepted for a POST: an action needs the header, which a cross-site page cannot send.
struct TokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String?
    let everyRequest: Bool
    static let cookieName = "arb_dashboard_token"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let post = request.method == .post
        guard everyRequest || post else { return try await next(request, context) }
        guard let token, !token.isEmpty else {
            return DashboardAPI.error(.forbidden, "actions are off: start arbadmin serve with ARB_DASHBOARD_TOKEN set, and send it as `Authorization: Bearer …`")
        }
        if let bearer = request.headers[.authorization].flatMap({ $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }),
           Self.equal(bearer, token) {
            return try await next(request, context)
        }
        if !post {
            if let cookie = Self.cookie(request), Self.equal(cookie, token) { return try await next(request, context) }
            if let query = request.uri.queryParameters.get("token"), Self.equal(query, token) {
                var response = try await next(request, context)
                response.headers[.setCookie] = "\(Self.cookieName)=\(token); HttpOnly; SameSite=Strict; Path=/"
                return response
            }
        }
        return DashboardAPI.error(.unauthorized, post
            ? "missing or wrong token: send `Authorization: Bearer <ARB_DASHBOARD_TOKEN>`"
            : "missing or wrong token: open the page once as /?token=<ARB_DASHBOARD_TOKEN>, or send `Authorization: Bearer …`")
    }

    static func cookie(_ request: Request) -> String? {
        guard let header = request.headers[.cookie] else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces)
            if pair.hasPrefix(cookieName + "=") { return String(pair.dropFirst(cookieName.count + 1)) }
        }
        return nil
    }

    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
