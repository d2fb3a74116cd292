import Testing

/// Under CI a suite whose tool is missing must run (and fail), not be skipped.
@Suite struct TestToolsTests {
    @Test func aMissingToolSkipsOnlyOutsideCI() {
        #expect(TestTools.suiteRuns(toolFound: true, environment: [:]))
        #expect(!TestTools.suiteRuns(toolFound: false, environment: [:]))
        #expect(!TestTools.suiteRuns(toolFound: false, environment: ["CI": "false"]))
        #expect(TestTools.suiteRuns(toolFound: false, environment: ["CI": "true"]))
        #expect(TestTools.suiteRuns(toolFound: false, environment: ["CI": "1"]))
    }
}
