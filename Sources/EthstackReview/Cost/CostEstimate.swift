import Foundation
import EthstackEngine
import EthstackModel

/// The monthly cost of a plan, before and after, from the vendored price table: one line per
/// priced part of a resource (the SKU or usage type, the price date, the quantity it assumed).
/// Usage-based parts (traffic, stored objects, log volume) are listed, never guessed; a quantity
/// that is unknown until apply gives an unknown line, and the totals say "at least".
public struct CostEstimate: Sendable {
    public static let formatVersion = "1.0"

    public enum Kind: String, Sendable {
        /// A monthly figure from the table.
        case fixed
        /// Priced per use (GB, requests): shown with its unit price, not in the total.
        case usage = "usage-based"
        /// The quantity is known only after apply.
        case unknown = "unknown until apply"
        /// The table has no price for it.
        case unpriced = "not in the price table"
    }

    public struct Line: Sendable {
        public var address: ResourceAddress
        public var type: String
        public var component: String
        public var priceKey: String
        public var sku: String?
        public var usagetype: String?
        public var unitPrice: Double?
        public var unit: String
        public var quantity: String
        public var kind: Kind
        public var before: Double?
        public var after: Double?
        public var note: String?

        public var delta: Double { (after ?? 0) - (before ?? 0) }
    }

    public var stack: String
    public var region: String
    public var priceDate: String
    public var tableAgeDays: Int
    public var hoursPerMonth: Double
    public var lines: [Line]
    public var warnings: [String]
    /// What state holds (`ethstack cost`): one side, no change.
    public var recordedOnly = false

    public var before: Double { lines.compactMap(\.before).reduce(0, +) }
    public var after: Double { lines.compactMap(\.after).reduce(0, +) }
    public var delta: Double { after - before }
    /// Whether some line's figure is unknown, so the totals are lower bounds.
    public var incomplete: Bool { lines.contains { $0.kind == .unknown || $0.kind == .unpriced } }

    /// Priced parts of one resource instance on one side of the plan.
    struct Item {
        var component: String
        var key: String
        var quantity: String
        /// Units per month (hours, GB-months); nil for usage-based or unknown items.
        var units: Double?
        var kind: Kind
        var note: String?
    }

    /// A plan's before and after.
    public init(plan: Plan, table: PriceTable, region: String, now: Date = Date()) {
        self.init(stack: plan.stack, before: ReviewedInstance.before(plan), after: ReviewedInstance.after(plan), table: table,
                  region: region, now: now)
    }

    /// What state holds (before = after): `ethstack cost`.
    public init(stack: String, recorded: [ReviewedInstance], table: PriceTable, region: String, now: Date = Date()) {
        self.init(stack: stack, before: recorded, after: recorded, table: table, region: region, now: now)
        recordedOnly = true
    }

    init(stack: String, before: [ReviewedInstance], after: [ReviewedInstance], table: PriceTable, region: String, now: Date) {
        self.stack = stack
        self.region = region
        self.priceDate = table.date
        self.tableAgeDays = table.age(at: now)
        self.hoursPerMonth = table.hoursPerMonth
        var warnings: [String] = []
        if tableAgeDays > 90 {
            warnings.append("the price table is \(tableAgeDays) days old (prices of \(table.date)): regenerate it with scripts/regenerate-prices")
        }
        let pricer = Pricer(table: table, region: region)
        var lines: [Line] = []
        var index: [String: Int] = [:]
        func add(_ side: [ReviewedInstance], after isAfter: Bool) {
            for inst in side {
                for item in pricer.items(inst, peers: side) {
                    let id = "\(inst.address)\u{0}\(item.component)"
                    let price = table["\(region)/\(item.key)"]
                    var kind = item.kind
                    if price == nil, kind != .unknown { kind = .unpriced }
                    let monthly = kind == .fixed ? price.flatMap { p in item.units.map { $0 * p.usd } } : nil
                    let line = Line(address: inst.address, type: inst.type, component: item.component, priceKey: "\(region)/\(item.key)",
                                    sku: price?.sku, usagetype: price?.usagetype, unitPrice: price?.usd, unit: price?.unit ?? "",
                                    quantity: item.quantity, kind: kind, before: isAfter ? nil : monthly, after: isAfter ? monthly : nil,
                                    note: item.note)
                    if let i = index[id] {
                        // The same part on both sides: the line describes the after side (its price,
                        // SKU and quantity: an instance type may have changed) and keeps the before figure.
                        let before = lines[i].before
                        lines[i] = line
                        lines[i].before = before
                        continue
                    }
                    index[id] = lines.count
                    lines.append(line)
                }
            }
        }
        add(before, after: false)
        add(after, after: true)
        for l in lines where l.kind == .unpriced {
            warnings.append("\(l.address): no price for \(l.priceKey) in the table (\(table.path))")
        }
        self.lines = lines
        self.warnings = warnings
    }
}

/// What each resource type costs, read from its values.
struct Pricer {
    var table: PriceTable
    var region: String
    var hours: Double { table.hoursPerMonth }

    typealias Item = CostEstimate.Item

    func items(_ r: ReviewedInstance, peers: [ReviewedInstance]) -> [Item] {
        switch r.type {
        case "aws.eks_cluster": return eksCluster(r.values)
        case "aws.eks_node_group": return nodeGroup(r.values)
        case "aws.nat_gateway":
            return [Item(component: "NAT gateway hours", key: "vpc/nat-gateway-hours", quantity: "\(fmt(hours)) h", units: hours, kind: .fixed),
                    Item(component: "NAT gateway data processed", key: "vpc/nat-gateway-bytes", quantity: "per GB", units: nil, kind: .usage)]
        case "aws.eip":
            return [Item(component: "public IPv4 address", key: "vpc/public-ipv4-hours", quantity: "\(fmt(hours)) h", units: hours, kind: .fixed)]
        case "aws.s3_bucket":
            return [Item(component: "S3 Standard storage", key: "s3/standard-storage", quantity: "per GB-month stored", units: nil, kind: .usage)]
        case "kubernetes.manifest": return service(r.values["manifest"])
        case "helm.release": return helm(r.values)
        case "kurtosis.enclave": return enclave(r.values, peers: peers)
        default: return []
        }
    }

    func eksCluster(_ v: [String: Value]) -> [Item] {
        var out = [Item(component: "EKS control plane", key: "eks/cluster-hours", quantity: "\(fmt(hours)) h", units: hours, kind: .fixed,
                        note: "standard support; a version in extended support costs 0.60/h")]
        if let logs = Read.strings(v["enabled_cluster_log_types"]), !logs.isEmpty {
            out.append(Item(component: "control-plane logs (\(logs.count) types) to CloudWatch", key: "cloudwatch/logs-ingest",
                            quantity: "per GB ingested", units: nil, kind: .usage))
        }
        return out
    }

    func nodeGroup(_ v: [String: Value]) -> [Item] {
        guard let desired = Read.known(v["desired_size"])?.intValue else {
            return [Item(component: "worker instances", key: "ec2", quantity: "desired_size", units: nil, kind: .unknown)]
        }
        let types = Read.strings(v["instance_types"]) ?? []
        let capacity = (Read.known(v["capacity_type"])?.stringValue ?? "ON_DEMAND").uppercased()
        var out: [Item] = []
        if capacity == "SPOT" {
            // EKS picks any of the types (capacity-optimized): the dearest known price bounds the cost.
            let spot = types.compactMap { t in table["\(region)/ec2/\(t)/spot"].map { (t, $0.usd, "spot") } }
            let fallback = types.compactMap { t in table["\(region)/ec2/\(t)/on_demand"].map { (t, $0.usd, "on_demand") } }
            let use = spot.count == types.count && !types.isEmpty ? spot : fallback
            if let top = use.max(by: { $0.1 < $1.1 }) {
                let note = use.first?.2 == "spot"
                    ? "spot, any of \(types.joined(separator: ", ")): the dearest type's spot price, an upper bound"
                    : "spot, any of \(types.joined(separator: ", ")): no spot price in the table, so at most the on-demand price of \(top.0); spot usually costs less"
                out.append(Item(component: "worker instances (spot)", key: "ec2/\(top.0)/\(top.2)",
                                quantity: "\(desired) × \(top.0) × \(fmt(hours)) h", units: Double(desired) * hours, kind: .fixed, note: note))
            } else {
                out.append(Item(component: "worker instances (spot)", key: "ec2/\(types.first ?? "?")/spot", quantity: "\(desired) nodes", units: nil, kind: .unpriced))
            }
        } else {
            // On-demand node groups launch the first instance type (prioritized).
            let t = types.first ?? "t3.medium"
            out.append(Item(component: "worker instances (on-demand)", key: "ec2/\(t)/on_demand",
                            quantity: "\(desired) × \(t) × \(fmt(hours)) h", units: Double(desired) * hours, kind: .fixed,
                            note: types.count > 1 ? "on-demand launches the first type, \(t)" : nil))
        }
        if let disk = Read.known(v["disk_size"])?.numberValue {
            out.append(Item(component: "worker root volumes", key: "ebs/gp3/storage", quantity: "\(desired) × \(fmt(disk)) GB",
                            units: Double(desired) * disk, kind: .fixed, note: "priced as gp3 (the EKS AL2023 default) [unconfirmed]"))
        } else {
            out.append(Item(component: "worker root volumes", key: "ebs/gp3/storage", quantity: "disk_size", units: nil, kind: .unknown))
        }
        return out
    }

    func loadBalancer(annotations: [String: Value]) -> Item {
        let type = annotations["service.beta.kubernetes.io/aws-load-balancer-type"]?.stringValue ?? ""
        if type == "nlb" || type == "external" {
            return Item(component: "network load balancer", key: "elb/network-hours", quantity: "\(fmt(hours)) h", units: hours, kind: .fixed,
                        note: "plus LCU-hours (usage-based)")
        }
        return Item(component: "classic load balancer", key: "elb/classic-hours", quantity: "\(fmt(hours)) h", units: hours, kind: .fixed,
                    note: "plus data processed (usage-based)")
    }

    func service(_ m: Value?) -> [Item] {
        guard let m, Read.known(m["kind"])?.stringValue == "Service" else { return [] }
        guard let type = Read.known(m["spec"]?["type"] ?? "ClusterIP")?.stringValue else {
            return [Item(component: "load balancer", key: "elb/network-hours", quantity: "spec.type", units: nil, kind: .unknown)]
        }
        guard type == "LoadBalancer" else { return [] }
        return [loadBalancer(annotations: Read.known(m["metadata"]?["annotations"])?.mapValue ?? [:])]
    }

    func helm(_ v: [String: Value]) -> [Item] {
        let chart = Read.known(v["chart"])?.stringValue ?? ""
        let values = Read.known(v["values"])
        switch chart {
        case "ingress-nginx":
            let svc = values?["controller"]?["service"]
            if (svc?["type"]?.stringValue ?? "LoadBalancer") != "LoadBalancer" || svc?["enabled"]?.boolValue == false { return [] }
            var item = loadBalancer(annotations: svc?["annotations"]?.mapValue ?? [:])
            item.component = "ingress-nginx controller: " + item.component
            return [item]
        case "fluent-bit", "aws-for-fluent-bit":
            return [Item(component: "container logs to CloudWatch", key: "cloudwatch/logs-ingest", quantity: "per GB ingested", units: nil, kind: .usage),
                    Item(component: "container logs stored", key: "cloudwatch/logs-storage", quantity: "per GB-month", units: nil, kind: .usage)]
        default:
            return []
        }
    }

    /// The participants' persistent volumes (el/cl_volume_size, MB) on the engine's storage class.
    func enclave(_ v: [String: Value], peers: [ReviewedInstance]) -> [Item] {
        guard let args = Read.known(v["args"]) else {
            return [Item(component: "participants' volumes", key: "ebs/gp3/storage", quantity: "args", units: nil, kind: .unknown)]
        }
        guard args["persistent"]?.boolValue == true else { return [] }
        let className = peers.first { $0.type == "kurtosis.engine" }.flatMap { Read.known($0.values["storage_class"])?.stringValue }
        let storageClass = peers.compactMap { p -> Value? in
            guard p.type == "kubernetes.manifest", let m = Read.known(p.values["manifest"]), m["kind"]?.stringValue == "StorageClass",
                  m["metadata"]?["name"]?.stringValue == className else { return nil }
            return m
        }.first
        let params = storageClass?["parameters"]?.mapValue ?? [:]
        let volumeType = params["type"]?.stringValue ?? "gp2"
        let classNote = storageClass == nil ? "storage class \(className ?? "(default)") not in this stack: priced as gp2, EKS's default class"
            : "storage class \(className ?? "") (\(volumeType))"
        var volumes: [Double] = []   // GiB each
        var missing = false
        for p in args["participants"]?.listValue ?? [] {
            let count = p["count"]?.intValue ?? 1
            for key in ["el_volume_size", "cl_volume_size"] {
                guard let mb = p[key]?.numberValue, mb > 0 else { missing = true; continue }
                volumes += Array(repeating: mb / 1024, count: count)
            }
        }
        var out: [Item] = []
        let gib = volumes.reduce(0, +)
        out.append(Item(component: "participants' volumes (\(volumes.count) × \(volumeType))", key: "ebs/\(volumeType)/storage",
                        quantity: "\(fmt(gib)) GiB (el/cl_volume_size MB ÷ 1024)", units: gib, kind: .fixed,
                        note: classNote + (missing ? "; volumes without a size in the args take the package's default and are not priced" : "")))
        if volumeType == "gp3" {
            let perGB = Double(params["iopsPerGB"]?.stringValue ?? "") ?? 0
            let fixedIOPS = Double(params["iops"]?.stringValue ?? "") ?? 0
            let extraIOPS = volumes.map { size in max(0, min(16_000, fixedIOPS > 0 ? fixedIOPS : perGB * size) - 3_000) }.reduce(0, +)
            if extraIOPS > 0 {
                out.append(Item(component: "participants' volumes: IOPS above 3,000", key: "ebs/gp3/iops", quantity: "\(fmt(extraIOPS)) IOPS",
                                units: extraIOPS, kind: .fixed, note: perGB > 0 ? "iopsPerGB \(fmt(perGB)) × size, per volume" : nil))
            }
            let throughput = Double(params["throughput"]?.stringValue ?? "") ?? 125
            if throughput > 125 {
                let extra = (throughput - 125) * Double(volumes.count)
                out.append(Item(component: "participants' volumes: throughput above 125 MiB/s", key: "ebs/gp3/throughput",
                                quantity: "\(volumes.count) × \(fmt(throughput - 125)) MiB/s", units: extra, kind: .fixed))
            }
        }
        return out
    }
}

/// A number without needless decimals: 730, 97.66.
func fmt(_ x: Double) -> String {
    if x.rounded() == x, abs(x) < 1e15 { return String(Int(x)) }
    return String(format: "%.2f", x)
}

/// Dollars: $1,234.56.
func usd(_ x: Double) -> String {
    let cents = Int((abs(x) * 100).rounded())
    var whole = String(cents / 100)
    var grouped = ""
    while whole.count > 3 {
        grouped = "," + whole.suffix(3) + grouped
        whole = String(whole.dropLast(3))
    }
    return (x < 0 ? "-" : "") + "$" + whole + grouped + "." + String(format: "%02d", cents % 100)
}
