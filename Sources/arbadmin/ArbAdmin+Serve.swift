import ArbDashboard
import ArbEngine
import ArgumentParser
import Foundation

extension ArbAdmin {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A live web dashboard of one-sided positions, a JSON API and Prometheus metrics.",
            discussion: """
                Prints `listening on http://HOST:PORT` as its first line (--listen HOST:0 picks a free \
                port), then serves until SIGINT or SIGTERM: the page at /, live by Server-Sent Events \
                (/events); the JSON API under /api (status, opportunities, opportunities/ID, one-sided, \
                alerts); /metrics in Prometheus text format; and the actions (POST /api/halt, \
                /api/resume, /api/opportunities/ID/close), which need ARB_DASHBOARD_TOKEN sent as \
                `Authorization: Bearer …`. The database is opened read-only for every read (WAL: the \
                trader is never blocked). Listening on anything but loopback needs ARB_DASHBOARD_TOKEN, \
                and every request must then carry it.
                """
        )

        @OptionGroup var options: SharedOptions

        @Option(name: .long, help: "HOST:PORT to listen on (default 127.0.0.1:8080; port 0 picks a free one).")
        var listen = "127.0.0.1:8080"

        func validate() throws {
            guard Self.address(listen) != nil else {
                throw ValidationError("--listen \(listen) is not HOST:PORT; e.g. --listen 127.0.0.1:8080 (port 0 picks a free one)")
            }
        }

        /// HOST:PORT, with an IPv6 host in brackets.
        static func address(_ text: String) -> (host: String, port: Int)? {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            var host = String(text[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else { return nil }
            return (host, port)
        }

        func run() async throws {
            let context = try options.context()
            let (host, port) = Self.address(listen) ?? ("127.0.0.1", 8080)
            let token = ProcessInfo.processInfo.environment["ARB_DASHBOARD_TOKEN"]
            let serveOptions = Dashboard.Options(databasePath: context.databasePath, host: host, port: port, token: token)
            do {
                try Dashboard.validate(serveOptions)
            } catch let refusal as Dashboard.Refusal {
                throw AdminFailure(refusal.description)
            }
            try await Dashboard.run(serveOptions) { url in
                print("listening on \(url)")
                fflush(nil)
            }
        }
    }
}
