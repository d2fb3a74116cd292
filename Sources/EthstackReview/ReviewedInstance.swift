import EthstackEngine
import EthstackModel

/// One resource instance as lint and cost read it: its values on one side of a plan (planned,
/// unknown parts and sensitive marks included) or as state recorded them.
public struct ReviewedInstance: Sendable {
    public var address: ResourceAddress
    public var type: String
    public var values: [String: Value]

    public init(address: ResourceAddress, type: String, values: [String: Value]) {
        self.address = address
        self.type = type
        self.values = values
    }

    /// What the plan leaves in place: creates, updates, replacements and no-ops, with their planned values.
    public static func after(_ plan: Plan) -> [ReviewedInstance] {
        plan.changes.filter { $0.action != .delete }.compactMap { c in
            c.after.map { ReviewedInstance(address: c.address, type: c.type, values: $0) }
        }
    }

    /// What exists before the plan, as refreshed.
    public static func before(_ plan: Plan) -> [ReviewedInstance] {
        plan.changes.compactMap { c in c.before.map { ReviewedInstance(address: c.address, type: c.type, values: $0) } }
    }

    /// What state holds, sensitive attributes marked, in address order.
    public static func recorded(_ state: StackState) -> [ReviewedInstance] {
        state.resources.values.sorted { $0.address.description < $1.address.description }
            .map { ReviewedInstance(address: $0.address, type: $0.type, values: $0.markedAttributes) }
    }
}
