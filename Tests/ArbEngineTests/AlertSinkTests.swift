import ArbTestSupport
import ArbEngine
import Foundation
import OrderStateMachine
import Testing

@Suite("Alert sinks", .exclusive)
struct AlertSinkTests {
    let directory = AlertTestDirectory()

    func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init)
    }

    @Test("the file sink appends one JSON object per line, body embedded as JSON, in a new 0600 file")
    func fileSinkWritesJSONLines() async throws {
        let path = directory.path("data/nested/alerts.log")
        let sink = FileAlertSink(path: path)
        #expect(sink.name == "file")
        try await sink.deliver(samplePending("one-sided-7", sink: "file", text: "leg \"a\" filled\nalone"))
        try await sink.deliver(samplePending("bad-body", sink: "file", body: "not json {"))

        let written = try lines(path)
        #expect(written.count == 3)
        #expect(written.last == "")  // every line ends in a newline
        let first = try #require(try JSONSerialization.jsonObject(with: Data(written[0].utf8)) as? [String: Any])
        #expect(Set(first.keys) == ["id", "kind", "severity", "created_at", "text", "body"])
        #expect(first["id"] as? String == "one-sided-7")
        #expect(first["kind"] as? String == "one_sided")
        #expect(first["severity"] as? String == "critical")
        #expect(first["created_at"] as? String == "2024-05-01T12:34:56.789Z")
        #expect(first["text"] as? String == "leg \"a\" filled\nalone")
        let body = try #require(first["body"] as? [String: Any])
        #expect(body["opportunity"] as? Int == 7)
        #expect(body["imbalance"] as? String == "10.00")
        let second = try #require(try JSONSerialization.jsonObject(with: Data(written[1].utf8)) as? [String: Any])
        #expect(second["body"] as? String == "not json {")

        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }

    @Test("a multi-line (pretty-printed) body still makes one line")
    func prettyBodyStaysOneLine() async throws {
        let path = directory.path("alerts.log")
        try await FileAlertSink(path: path).deliver(samplePending(sink: "file", body: "{\n  \"a\": [1,\r\n 2]\n}"))
        let written = try lines(path)
        #expect(written.count == 2)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(written[0].utf8)) as? [String: Any])
        #expect((object["body"] as? [String: Any])?["a"] as? [Int] == [1, 2])
    }

    @Test("the file sink fails (and so is retried) when it cannot write")
    func fileSinkFailure() async throws {
        let path = directory.path("is-a-directory")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        await #expect(throws: AlertSinkError.self) {
            try await FileAlertSink(path: path).deliver(samplePending(sink: "file"))
        }
    }

    @Test("the console sink writes the alert's text as one line to its descriptor")
    func consoleSink() async throws {
        let path = directory.path("stderr.txt")
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        let sink = ConsoleAlertSink(fileDescriptor: descriptor)
        #expect(sink.name == "console")
        try await sink.deliver(samplePending(sink: "console"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "ALERT critical one_sided [one-sided-7]: leg a filled alone\n")
        await #expect(throws: AlertSinkError.self) {
            try await ConsoleAlertSink(fileDescriptor: -1).deliver(samplePending(sink: "console"))
        }
    }

    @Test("the webhook sink POSTs the alert as JSON and succeeds on 2xx")
    func webhookPosts() async throws {
        let server = try await TestHTTPServer.start(statuses: [204])
        let sink = WebhookAlertSink(url: server.url("/hooks/abc?token=t"), timeoutMilliseconds: 2_000)
        #expect(sink.name == "webhook")
        do {
            try await sink.deliver(samplePending(sink: "webhook", text: "leg \"a\" alone"))
        } catch {
            Issue.record("delivery failed: \(error)")
        }
        await sink.shutdown()
        await server.stop()

        let request = try #require(server.requests.first)
        #expect(server.requests.count == 1)
        #expect(request.method == "POST")
        #expect(request.uri == "/hooks/abc?token=t")
        #expect(request.contentType == "application/json")
        let json = try #require(request.json)
        #expect(Set(json.keys) == ["text", "id", "kind", "severity"])
        #expect(json["text"] as? String == "leg \"a\" alone")
        #expect(json["id"] as? String == "one-sided-7")
        #expect(json["kind"] as? String == "one_sided")
        #expect(json["severity"] as? String == "critical")
    }

    @Test("a non-2xx answer is a failure whose error names the status, not the secret")
    func webhookNon2xx() async throws {
        let server = try await TestHTTPServer.start(statuses: [500])
        let sink = WebhookAlertSink(url: server.url("/services/T000/SECRETPART?token=abc"), timeoutMilliseconds: 2_000)
        var caught: (any Error)?
        do { try await sink.deliver(samplePending(sink: "webhook")) } catch { caught = error }
        await sink.shutdown()
        await server.stop()
        let error = try #require(caught as? AlertSinkError)
        #expect(error == .httpStatus(500, redactedURL: "http://127.0.0.1:\(server.port)/services/REDACTED?REDACTED"))
        #expect(!"\(error)".contains("SECRETPART"))
        #expect(!"\(error)".contains("abc"))
    }

    @Test("a webhook that cannot be reached fails without the secret in the error or the sink's description")
    func webhookUnreachable() async throws {
        let port = try await closedLocalPort()
        let url = "http://user:pa55word@127.0.0.1:\(port)/services/T000/B000/XXXXSECRET?token=abc"
        let sink = WebhookAlertSink(url: url, timeoutMilliseconds: 1_000)
        var caught: (any Error)?
        do { try await sink.deliver(samplePending(sink: "webhook")) } catch { caught = error }
        await sink.shutdown()
        let error = try #require(caught)
        for text in ["\(error)", String(reflecting: error), "\(sink)", String(reflecting: sink)] {
            for secret in ["XXXXSECRET", "B000", "token", "abc", "pa55word", "user:"] {
                #expect(!text.contains(secret), "\(secret) leaked in \(text)")
            }
        }
        #expect("\(error)".contains("127.0.0.1:\(port)/services/REDACTED"))
    }

    @Test("a URL that is not http(s) fails at delivery with nothing of it shown")
    func webhookInvalidURL() async throws {
        let sink = WebhookAlertSink(url: "hooks.example.com/SECRET")
        var caught: (any Error)?
        do { try await sink.deliver(samplePending(sink: "webhook")) } catch { caught = error }
        await sink.shutdown()
        #expect(caught as? AlertSinkError == .invalidURL(redacted: "REDACTED"))
    }

    @Test("redaction keeps scheme, host, port and the first path segment only", arguments: [
        ("https://hooks.example.com/services/T000/B000/XXXXSECRET?token=abc", "https://hooks.example.com/services/REDACTED?REDACTED"),
        ("https://user:secret@example.com:8443/api/webhooks/123/tok#frag", "https://REDACTED@example.com:8443/api/REDACTED#REDACTED"),
        ("http://127.0.0.1:9000/hook", "http://127.0.0.1:9000/hook"),
        ("https://example.com", "https://example.com"),
        ("https://example.com/?key=SECRET", "https://example.com?REDACTED"),
        ("not a url SECRET", "REDACTED"),
    ])
    func redaction(url: String, expected: String) {
        #expect(redactedURL(url) == expected)
    }

    @Test("the documented example hides every secret part")
    func redactionOfExample() {
        let redacted = redactedURL("https://hooks.example.com/services/T000/B000/XXXXSECRET?token=abc")
        for secret in ["T000", "B000", "XXXXSECRET", "token", "abc"] {
            #expect(!redacted.contains(secret))
        }
        #expect(redacted.hasPrefix("https://hooks.example.com/services/"))
    }
}
