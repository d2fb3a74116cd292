import Foundation

/// Decodes the Kubernetes protobuf envelope ("k8s\0" + runtime.Unknown) for the few kinds that
/// kubectl's generators (`kubectl create namespace|configmap|secret|serviceaccount`) and client-go's
/// typed clients (helm's release Secrets) send as protobuf. Everything else is answered 415.
enum KubeProtobuf {
    struct Unsupported: Error { let message: String }

    static let magic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]

    struct Reader {
        let b: [UInt8]
        var i: Int
        let end: Int

        init(_ b: [UInt8], _ start: Int = 0, _ end: Int? = nil) { self.b = b; i = start; self.end = end ?? b.count }

        mutating func varint() throws -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard i < end, shift < 64 else { throw Unsupported(message: "truncated protobuf varint") }
                let c = b[i]; i += 1
                v |= UInt64(c & 0x7F) << shift
                if c & 0x80 == 0 { return v }
                shift += 7
            }
        }

        /// Next field: (number, wire type, payload range for length-delimited, varint value).
        mutating func next() throws -> (Int, Int, Range<Int>?, UInt64)? {
            guard i < end else { return nil }
            let key = try varint()
            let field = Int(key >> 3), wire = Int(key & 7)
            switch wire {
            case 0: return (field, wire, nil, try varint())
            case 1: guard i + 8 <= end else { throw Unsupported(message: "truncated protobuf") }; i += 8; return (field, wire, nil, 0)
            case 5: guard i + 4 <= end else { throw Unsupported(message: "truncated protobuf") }; i += 4; return (field, wire, nil, 0)
            case 2:
                let len = try varint()
                guard len <= UInt64(end - i) else { throw Unsupported(message: "truncated protobuf") }
                let n = Int(len)
                let r = i..<(i + n); i += n
                return (field, wire, r, 0)
            default: throw Unsupported(message: "unsupported protobuf wire type \(wire)")
            }
        }
    }

    static func string(_ b: [UInt8], _ r: Range<Int>) -> String { String(decoding: b[r], as: UTF8.self) }

    static func decode(_ data: Data) throws -> KubeJSON {
        let b = [UInt8](data)
        guard b.count >= 4, Array(b[0..<4]) == magic else { throw Unsupported(message: "protobuf body without the k8s envelope") }
        var r = Reader(b, 4)
        var apiVersion = "", kind = ""
        var raw: Range<Int>?
        while let (f, _, range, _) = try r.next() {
            guard let range else { continue }
            if f == 1 {
                var t = Reader(b, range.lowerBound, range.upperBound)
                while let (tf, _, tr, _) = try t.next() {
                    guard let tr else { continue }
                    if tf == 1 { apiVersion = string(b, tr) } else if tf == 2 { kind = string(b, tr) }
                }
            } else if f == 2 { raw = range }
        }
        guard let raw else { throw Unsupported(message: "protobuf envelope without an object") }
        var o: [String: KubeJSON] = ["apiVersion": .string(apiVersion), "kind": .string(kind)]
        var m = Reader(b, raw.lowerBound, raw.upperBound)
        switch kind {
        case "Namespace", "ConfigMap", "Secret", "ServiceAccount":
            while let (f, _, range, value) = try m.next() {
                if f == 1, let range { o["metadata"] = try objectMeta(b, range); continue }
                switch (kind, f) {
                case ("ConfigMap", 2): if let range { o["data"] = merging(o["data"], try mapEntry(b, range, bytes: false)) }
                case ("ConfigMap", 3): if let range { o["binaryData"] = merging(o["binaryData"], try mapEntry(b, range, bytes: true)) }
                case ("ConfigMap", 4), ("Secret", 5): o["immutable"] = .bool(value != 0)
                case ("Secret", 2): if let range { o["data"] = merging(o["data"], try mapEntry(b, range, bytes: true)) }
                case ("Secret", 3): if let range, !range.isEmpty { o["type"] = .string(string(b, range)) }
                case ("Secret", 4): if let range { o["stringData"] = merging(o["stringData"], try mapEntry(b, range, bytes: false)) }
                case ("Namespace", 2):
                    if let range {
                        var s = Reader(b, range.lowerBound, range.upperBound)
                        var fins: [KubeJSON] = []
                        while let (sf, _, sr, _) = try s.next() { if sf == 1, let sr { fins.append(.string(string(b, sr))) } }
                        if !fins.isEmpty { o["spec"] = ["finalizers": .array(fins)] }
                    }
                case ("ServiceAccount", 4): o["automountServiceAccountToken"] = .bool(value != 0)
                default: break
                }
            }
        default:
            throw Unsupported(message: "protobuf request bodies are supported for Namespace, ConfigMap, Secret and ServiceAccount only (got \(kind)); send JSON")
        }
        return .object(o)
    }

    static func merging(_ a: KubeJSON?, _ b: (String, KubeJSON)) -> KubeJSON {
        var o = a?.objectValue ?? [:]
        o[b.0] = b.1
        return .object(o)
    }

    static func mapEntry(_ b: [UInt8], _ r: Range<Int>, bytes: Bool) throws -> (String, KubeJSON) {
        var e = Reader(b, r.lowerBound, r.upperBound)
        var k = "", v: KubeJSON = .string("")
        while let (f, _, range, _) = try e.next() {
            guard let range else { continue }
            if f == 1 { k = string(b, range) }
            if f == 2 { v = .string(bytes ? Data(b[range]).base64EncodedString() : string(b, range)) }
        }
        return (k, v)
    }

    static func objectMeta(_ b: [UInt8], _ r: Range<Int>) throws -> KubeJSON {
        var m = Reader(b, r.lowerBound, r.upperBound)
        var o: [String: KubeJSON] = [:]
        var fins: [KubeJSON] = []
        while let (f, _, range, value) = try m.next() {
            switch f {
            case 1: if let range { o["name"] = .string(string(b, range)) }
            case 2: if let range { o["generateName"] = .string(string(b, range)) }
            case 3: if let range { o["namespace"] = .string(string(b, range)) }
            case 5: if let range { o["uid"] = .string(string(b, range)) }
            case 6: if let range { o["resourceVersion"] = .string(string(b, range)) }
            case 7: o["generation"] = .int(Int64(bitPattern: value))
            case 11: if let range { o["labels"] = merging(o["labels"], try mapEntry(b, range, bytes: false)) }
            case 12: if let range { o["annotations"] = merging(o["annotations"], try mapEntry(b, range, bytes: false)) }
            case 14: if let range { fins.append(.string(string(b, range))) }
            default: break
            }
        }
        if !fins.isEmpty { o["finalizers"] = .array(fins) }
        // proto2 always writes strings; the JSON form omits empty ones.
        for (k, v) in o where v == .string("") { o[k] = nil }
        return .object(o)
    }
}
