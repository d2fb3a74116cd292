import Testing
@testable import EthstackEngine
@testable import EthstackModel

@Suite struct ValueTests {
    @Test func jsonRoundTrip() throws {
        let v: Value = ["a": 1, "b": [true, "x", nil], "c": ["d": 2.5]]
        #expect(try Value.parseJSON(v.jsonString()) == v)
    }

    @Test func editDistanceFindsTransposition() {
        #expect(editDistance("el_tpye", "el_type") == 1)
        #expect(closestName(to: "vcp", in: ["vpc", "subnet"]) == "vpc")
    }
}
