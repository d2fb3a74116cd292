import EthstackModel

/// Tests write addresses as literals (`address: "vpc"`); the code under test keeps them typed.
extension ResourceAddress: ExpressibleByStringLiteral {
    public init(stringLiteral text: String) {
        guard let address = ResourceAddress(text) else { preconditionFailure("not a resource address in a test: \(text)") }
        self = address
    }
}
