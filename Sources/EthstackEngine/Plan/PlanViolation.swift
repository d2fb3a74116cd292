import EthstackModel

/// A rule of the stack that a plan breaks: `lifecycle.prevent_destroy` on an instance the plan
/// would delete or replace (whatever the reason: destroy, removed from configuration, `--target`,
/// `--replace`, a forced or create_before_destroy replacement).
///
/// A plan with violations can be shown and saved (the file carries them), but never applied: the
/// applier checks them, and checks the plan's changes against the stack it runs with, before it
/// makes any call — so a plan file from elsewhere, or with its violations removed, is refused too.
public struct PlanViolation: Sendable, Hashable {
    public enum Rule: String, Sendable, Hashable {
        case preventDestroy = "prevent_destroy"
    }

    public var address: ResourceAddress
    public var action: ChangeAction
    public var rule: Rule
    /// Where the rule is declared (the resource), when the stack is at hand.
    public var location: SourceLocation?

    public init(address: ResourceAddress, action: ChangeAction, rule: Rule, location: SourceLocation? = nil) {
        self.address = address
        self.action = action
        self.rule = rule
        self.location = location
    }

    public var message: String {
        let verb = action == .replace ? "replace" : "destroy"
        return "\(address) has lifecycle.prevent_destroy, but the plan would \(verb) it"
    }

    public var diagnostic: Diagnostic {
        .error(location, message, hint: "remove prevent_destroy from the stack to \(action == .replace ? "replace" : "destroy") it")
    }

    /// The changes that destroy an object of a resource declared with prevent_destroy.
    public static func find(in changes: [ResourceChange], stack: StackDeclaration) -> [PlanViolation] {
        var protected: [String: SourceLocation] = [:]
        for r in stack.resources where r.lifecycle.preventDestroy { protected[r.name] = r.location }
        guard !protected.isEmpty else { return [] }
        return changes.compactMap { change in
            guard change.action == .delete || change.action == .replace,
                  let location = protected[change.address.name] else { return nil }
            return PlanViolation(address: change.address, action: change.action, rule: .preventDestroy, location: location)
        }
    }

    /// Everything that forbids applying `plan` with `stack`: what the plan carries and what its
    /// changes break now. Throws them all as positioned errors.
    public static func refuse(_ plan: Plan, stack: StackDeclaration) throws {
        var seen = Set<String>()
        var diagnostics: [Diagnostic] = []
        for v in find(in: plan.changes, stack: stack) + plan.violations
        where seen.insert("\(v.address) \(v.rule.rawValue)").inserted {
            diagnostics.append(v.diagnostic)
        }
        guard !diagnostics.isEmpty else { return }
        diagnostics.append(.error(nil, "refusing to apply a plan that breaks lifecycle.prevent_destroy: nothing was changed"))
        throw DiagnosticsError(diagnostics)
    }
}
