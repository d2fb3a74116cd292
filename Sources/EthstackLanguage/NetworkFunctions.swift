import EthstackModel

extension Functions {
    /// `cidrhost`, `cidrnetmask`, `cidrsubnets`, as Terraform 1.0.3 computes them (IPv4 and IPv6).
    static let networkFunctions: [String: LibraryFunction] = [
        "cidrhost": LibraryFunction(arity: 2...2) { a in
            let prefix = try parsePrefix(try a.string(0), a)
            let host = try a.integer(1)
            let hostBits = prefix.bits - prefix.length
            let size: UInt128 = hostBits >= 128 ? UInt128.max : (UInt128(1) << hostBits)
            let magnitude = UInt128(host.magnitude)
            // A negative host number counts back from the end of the range (-1 is the last address).
            guard host >= 0 ? magnitude < size || hostBits >= 128 : magnitude <= size else {
                throw a.fail("prefix of \(prefix.length) does not accommodate a host numbered \(host)")
            }
            let offset = host >= 0 ? magnitude : size - magnitude
            return .string(prefix.format(prefix.network | offset))
        },
        "cidrnetmask": LibraryFunction(arity: 1...1) { a in
            let prefix = try parsePrefix(try a.string(0), a)
            let ones: UInt128 = prefix.length == 0 ? 0 : ~UInt128(0) << (128 - prefix.length)
            return .string(prefix.format(prefix.bits == 32 ? ones >> 96 : ones))
        },
        "cidrsubnets": LibraryFunction(arity: 1...64) { a in
            let text = try a.string(0)
            let prefix = try parsePrefix(text, a)
            var next = prefix.network  // the first address not yet allocated
            var out: [Value] = []
            for i in 1..<max(1, a.count) {
                let newbits = try a.integer(i)
                let length = prefix.length + newbits
                guard newbits >= 1 else { throw a.fail(i, "must extend the prefix by at least one bit") }
                guard length <= prefix.bits else {
                    throw a.fail(i, "would extend prefix to \(length) bits, which is too long for an \(prefix.bits == 32 ? "IPv4" : "IPv6") address")
                }
                let blockBits = prefix.bits - length
                let block: UInt128 = UInt128(1) << blockBits
                // Align up to the new block size.
                let aligned = (next + block - 1) / block * block
                let end = prefix.bits - prefix.length >= 128 ? UInt128.max : prefix.network + (UInt128(1) << (prefix.bits - prefix.length)) - 1
                guard aligned >= next, aligned <= end, aligned + (block - 1) <= end else {
                    throw a.fail(i, "not enough remaining address space for a subnet with a prefix of \(length) bits after \(out.last?.stringValue ?? text)")
                }
                out.append(.string(prefix.format(aligned) + "/\(length)"))
                next = aligned + block
            }
            return .list(out)
        },
    ]

    struct Prefix {
        var network: UInt128
        var length: Int
        /// 32 or 128.
        var bits: Int

        func format(_ address: UInt128) -> String {
            if bits == 32 {
                let v = UInt32(truncatingIfNeeded: address)
                return [24, 16, 8, 0].map { String((v >> $0) & 0xff) }.joined(separator: ".")
            }
            return Functions.formatIPv6(address)
        }
    }

    /// `10.0.0.0/16` or `fd00::/48`, its host bits cleared.
    static func parsePrefix(_ text: String, _ a: FunctionArguments) throws -> Prefix {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let length = Int(parts[1]) else {
            throw a.fail(0, "invalid CIDR expression: \"\(text)\" is not a prefix like 10.0.0.0/16")
        }
        if let v4 = parseIPv4(String(parts[0])) {
            guard (0...32).contains(length) else { throw a.fail(0, "invalid CIDR expression: invalid prefix length /\(length)") }
            let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << (32 - length)
            return Prefix(network: UInt128(v4 & mask), length: length, bits: 32)
        }
        if let v6 = parseIPv6(String(parts[0])) {
            guard (0...128).contains(length) else { throw a.fail(0, "invalid CIDR expression: invalid prefix length /\(length)") }
            let mask: UInt128 = length == 0 ? 0 : ~UInt128(0) << (128 - length)
            return Prefix(network: v6 & mask, length: length, bits: 128)
        }
        throw a.fail(0, "invalid CIDR expression: \"\(parts[0])\" is not an IPv4 or IPv6 address")
    }
}
