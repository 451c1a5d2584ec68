import ArbEngine
import Foundation
import Hummingbird
import NIOCore
import OrderStateMachine

/// The JSON API: the same objects as `arbadmin … --json` (snake_case keys, decimal strings for
/// money), and the operator's actions through the same code as the `arbadmin` commands
/// (`OperatorActions`). Errors are `{"error": "…"}` with a 4xx status.
enum DashboardAPI {
    static func routes(_ router: Router<BasicRequestContext>, _ options: Dashboard.Options) {
        let path = options.databasePath
        func reading(_ body: @escaping @Sendable (Store, Request, BasicRequestContext) throws -> Response)
            -> @Sendable (Request, BasicRequestContext) async throws -> Response {
            { request, context in
                do {
                    return try body(try Store(path: path, access: .readOnly), request, context)
                } catch let failure as AdminFailure {
                    return error(failure.description.hasPrefix("no opportunity") ? .notFound : .badRequest, failure.description)
                }
            }
        }
        router.get("/api/status", use: reading { store, _, _ in
            json(try StatusReport.read(store, now: Dashboard.now()).json())
        })
        router.get("/api/opportunities", use: reading { store, request, _ in
            let query = request.uri.queryParameters
            var limit: Int?
            if let text = query.get("limit") {
                guard let number = Int(text) else { throw AdminFailure("limit=\(text) is not a whole number", exitCode: .usage) }
                limit = number
            }
            let filters = ListFilters(state: query.get("state"), outcome: query.get("outcome"), oneSided: false, since: query.get("since"),
                                      limit: limit ?? 100)
            return json(OpportunityListing.json(try OpportunityListing.read(store, filters, now: Dashboard.now())))
        })
        router.get("/api/opportunities/:id", use: reading { store, _, context in
            let id = try Dashboard.opportunityID(context)
            guard let history = try store.history(of: id) else { throw AdminFailure.unknownOpportunity(id, path: store.path) }
            return json(OpportunityReport.json(history))
        })
        router.get("/api/one-sided", use: reading { store, _, _ in
            let filters = ListFilters(state: nil, outcome: nil, oneSided: true, since: nil, limit: nil)
            return json(OpportunityListing.json(try OpportunityListing.read(store, filters, now: Dashboard.now())))
        })
        router.get("/api/alerts", use: reading { store, request, _ in
            let limit = request.uri.queryParameters.get("limit").flatMap { Int($0) } ?? 100
            let undelivered = request.uri.queryParameters.get("undelivered") == "true"
            return json(AlertListing.json(try AlertListing.read(store, undeliveredOnly: undelivered, limit: limit)))
        })

        // Actions: the token is checked by `TokenMiddleware` (every POST needs it).
        router.post("/api/halt") { request, context in
            try await acting(path, request, context) { store, body, _ in
                guard let reason = body["reason"] as? String, !reason.allSatisfy(\.isWhitespace) else {
                    throw AdminFailure("a halt needs a reason: {\"reason\": \"…\"}", exitCode: .usage)
                }
                return try OperatorActions.halt(store, reason: reason, now: Dashboard.now())
            }
        }
        router.post("/api/resume") { request, context in
            try await acting(path, request, context) { store, _, _ in try OperatorActions.resume(store, now: Dashboard.now()) }
        }
        router.post("/api/opportunities/:id/close") { request, context in
            try await acting(path, request, context) { store, body, context in
                let id = try Dashboard.opportunityID(context)
                guard let note = body["note"] as? String, !note.allSatisfy(\.isWhitespace) else {
                    throw AdminFailure("a close needs a note: {\"note\": \"what you did\"}", exitCode: .usage)
                }
                return try OperatorActions.close(store, id: id, note: note, flattened: body["flattened"] as? Bool ?? false, now: Dashboard.now())
            }
        }
    }

    /// Runs an action on the database opened for writing, with the request's JSON object.
    static func acting(_ path: String, _ request: Request, _ context: BasicRequestContext,
                       _ action: ([String: Any], BasicRequestContext) throws -> OperatorActions.Outcome) async throws -> Response {
        try await acting(path, request, context) { _, body, context in try action(body, context) }
    }

    static func acting(_ path: String, _ request: Request, _ context: BasicRequestContext,
                       _ action: (Store, [String: Any], BasicRequestContext) throws -> OperatorActions.Outcome) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 64 * 1024)
        var body: [String: Any] = [:]
        if buffer.readableBytes > 0 {
            guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] else {
                return error(.badRequest, "the body is not a JSON object")
            }
            body = object
        }
        do {
            let store = try Store(path: path, access: .existing)
            return json(try action(store, body, context).json)
        } catch let failure as AdminFailure {
            let status: HTTPResponse.Status = failure.description.hasPrefix("no opportunity") ? .notFound
                : failure.exitCode == .usage ? .badRequest : .conflict
            return error(status, failure.description)
        }
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(AdminText.json(["error": message]), status: status)
    }
}
