@testable import ArbEngine
import ArbKit
import Synchronization
import Testing

/// The detection loop waits on the feeds' inbox, not on a fixed tick (issue 17): a book message
/// reaches the detector as it arrives. Each wait here is guarded by a 10 s timer, so a wait that
/// only ended on its timer fails the test rather than passing late.
@Suite("Book feeds wake the detection loop as a message arrives")
struct BookInboxWakeTests {
    /// How `wait` ended: by the inbox, or by the 10 s guard.
    enum End: Sendable { case inbox, guardTimer }

    static func waitGuarded(_ inbox: VenueBookFeeds.Inbox) async -> End {
        await withTaskGroup(of: End?.self) { group in
            group.addTask {
                try? await Task.sleep(for: .seconds(10))
                inbox.wake()
                return Task.isCancelled ? nil : .guardTimer
            }
            await inbox.wait()
            group.cancelAll()
            var ended = End.inbox
            for await end in group { if end == .guardTimer { ended = .guardTimer } }
            return ended
        }
    }

    static let event = BookFeedEvent.trusted(market: "KX")

    @Test("an event already waiting: the wait returns at once, and drain hands it over")
    func alreadyWaiting() async {
        let inbox = VenueBookFeeds.Inbox()
        inbox.append(Self.event)
        #expect(await Self.waitGuarded(inbox) == .inbox)
        #expect(inbox.drain() == [Self.event])
    }

    @Test("an event appended while the loop waits ends the wait, every time")
    func appendedWhileWaiting() async {
        let inbox = VenueBookFeeds.Inbox()
        for round in 0..<50 {
            let producer = Task {
                try? await Task.sleep(for: .milliseconds(round % 3))
                inbox.append(Self.event)
            }
            let end = await Self.waitGuarded(inbox)
            await producer.value
            guard end == .inbox else {
                Issue.record("round \(round): the wait ended only on its 10 s guard")
                return
            }
            #expect(inbox.drain() == [Self.event])
        }
    }

    @Test("a wake that came before the loop began to wait is not lost: the next wait returns at once")
    func wakeBeforeWait() async {
        let inbox = VenueBookFeeds.Inbox()
        inbox.wake()  // the 2 ms timer fired while the loop was still busy
        #expect(await Self.waitGuarded(inbox) == .inbox)
        #expect(inbox.drain().isEmpty)
    }
}
