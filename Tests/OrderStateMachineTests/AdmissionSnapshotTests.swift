import ArbTestSupport
import Testing
@testable import OrderStateMachine

/// The begin's admission check (halt flag, market blocks) is held in memory between begins and
/// read again only when another connection committed or this one wrote it (issue 17): it must
/// never admit what the database refuses.
@Suite("Admission from memory, kept current by PRAGMA data_version")
struct AdmissionSnapshotTests {
    let directory = TemporaryDirectory()

    func begin(_ store: Store, _ event: String) throws -> CreateResult {
        try store.createAndBegin(sampleOpportunity(event), reason: "gate", refusal: { try store.admissionRefusal(eventID: event) },
                                 makeLegs: { sampleLegs(store, $0) })
    }

    func created(_ result: CreateResult) -> Bool {
        if case .created = result { return true }
        return false
    }

    @Test("a halt or a market block committed by another connection refuses the next begin, and its lifting admits again")
    func anotherConnection() throws {
        let path = directory.path("arb.db")
        let store = try Store(path: path, durability: .normal)
        let operator_ = try Store(path: path, durability: .normal)  // as arbadmin's, in another process
        #expect(created(try begin(store, "E1")))
        try operator_.halt(reason: "operator", atMilliseconds: 1)
        #expect(try begin(store, "E2") == .refused("halted"))
        try operator_.resume(atMilliseconds: 2)
        #expect(created(try begin(store, "E3")))
        try operator_.setMarketBlock("E4", reason: "3 unwinds today", atMilliseconds: 3)
        #expect(try begin(store, "E4") == .refused("market blocked: 3 unwinds today"))
        #expect(created(try begin(store, "E5")))
        try operator_.setMarketBlock("E4", reason: nil, atMilliseconds: 4)
        #expect(created(try begin(store, "E4")))
        #expect(try store.nonTerminalOpportunities().count == 4)  // E1, E3, E5, E4
    }

    @Test("this connection's own halt, block and resume count from the next begin")
    func thisConnection() throws {
        let store = try Store(path: directory.path("arb.db"), durability: .normal)
        #expect(created(try begin(store, "E1")))
        try store.halt(reason: "risk: too many one-sided closes", atMilliseconds: 1)
        #expect(try begin(store, "E2") == .refused("halted"))
        try store.resume(atMilliseconds: 2)
        #expect(created(try begin(store, "E2")))
        try store.setMarketBlock("E3", reason: "3 unwinds today", atMilliseconds: 3)
        #expect(try begin(store, "E3") == .refused("market blocked: 3 unwinds today"))
    }
}
