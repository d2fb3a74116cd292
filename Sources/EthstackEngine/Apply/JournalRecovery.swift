import Foundation
import EthstackLanguage
import EthstackModel
import EthstackProviderAPI

/// What a previous run left in flight (a crash, SIGKILL, a second Ctrl-C, a lost answer): the
/// journal rows it opened and never closed. Each provider is asked to look its object up by the
/// mark the create put on it; what exists is adopted into state, what does not is planned again.
/// A row is closed only on a provider's answer: when the provider cannot be configured yet or its
/// look-up fails, the row stays open for the next run.
public enum JournalRecovery {
    public struct Resolution: Sendable {
        public var entry: JournalEntry
        public var adopt: ResourceState?
        public var remove: ResourceAddress?
        /// nil: the outcome is still unknown, the row stays open.
        public var outcome: JournalEntry.Outcome?
        public var note: String
    }

    /// Seconds after a create was started before "the provider finds nothing" means it made
    /// nothing: a request of a killed run can still reach the server that long after it was sent.
    static let settleTime: TimeInterval = 15

    /// Keys a delete row's record carries besides the object's attributes (not attribute names).
    static let objectIDKey = "ethstack:id"
    static let deposedKey = "ethstack:deposed"

    /// What a delete's journal row records: the object's attributes, its id, and whether it is a
    /// deposed object (create_before_destroy) whose address already holds its replacement.
    static func deleteRecord(_ attributes: [String: Value], id: String?, deposed: Bool) -> [String: Value] {
        var record = attributes
        if let id { record[objectIDKey] = .string(id) }
        if deposed { record[deposedKey] = .bool(true) }
        return record
    }

    static func isDeposed(_ entry: JournalEntry, in state: StackState) -> Bool {
        guard entry.action == .delete, entry.planned[deposedKey] == .bool(true),
              let id = entry.planned[objectIDKey]?.stringValue else { return false }
        return state.resources[entry.address]?.id != id
    }

    /// Looks up every unfinished row. Changes nothing; returns the state as it would be after recovery.
    public static func examine(store: any StateReader, stack: StackDeclaration, state: StackState, registry: ProviderRegistry,
                               sessions: ProviderSessions, variables: [String: Value]) async -> (StackState, [Resolution]) {
        guard let entries = try? await store.unfinishedJournal(stack: stack.name), !entries.isEmpty else { return (state, []) }
        var result = state
        var resolutions: [Resolution] = []
        // Creates first: whether a delete row names a deposed object depends on what the address holds.
        let ordered = entries.filter { $0.action != .delete } + entries.filter { $0.action == .delete }
        for entry in ordered {
            let session = await configuredSession(entry.provider, stack: stack, state: state, sessions: sessions, variables: variables)
            guard let session else {
                resolutions.append(Resolution(entry: entry, outcome: nil,
                                              note: "\(entry.address): \(entry.action) was in flight; its provider \(entry.provider) cannot be configured yet to look it up (kept in the journal)"))
                continue
            }
            switch entry.action {
            case .create:
                resolutions.append(await recoverCreate(entry, session: session, stack: stack.name, registry: registry, state: &result))
            case .delete:
                resolutions.append(await recoverDelete(entry, session: session, state: &result))
            case .update:
                resolutions.append(Resolution(entry: entry, outcome: .abandoned,
                                              note: "\(entry.address): an \(entry.action) was in flight; the refresh shows where it got"))
            }
        }
        return (result, resolutions)
    }

    static func recoverCreate(_ entry: JournalEntry, session: any ConfiguredProvider, stack: String, registry: ProviderRegistry,
                              state: inout StackState) async -> Resolution {
        let mark = ResourceMark(stack: stack, address: entry.address, token: entry.token)
        let request = FindRequest(type: entry.type, address: entry.address, mark: mark, planned: entry.planned, started: entry.started)
        do {
            var found = try await session.find(request)
            // A request the stopped run sent moments ago may still be in flight (in a proxy, queued
            // at the server): "nothing" is an answer only once it had time to land.
            let settled = entry.started.addingTimeInterval(settleTime).timeIntervalSinceNow
            if found == nil, settled > 0 {
                try await Task.sleep(nanoseconds: UInt64(settled * 1_000_000_000))
                found = try await session.find(request)
            }
            guard let found else {
                return Resolution(entry: entry, outcome: .abandoned,
                                  note: "\(entry.address): the create in flight made nothing; it is planned again")
            }
            let adopted = ResourceState.recording(address: entry.address, type: entry.type, provider: entry.provider,
                                                  id: found.id, attributes: found.attributes,
                                                  schema: registry.schema(for: entry.type), planned: entry.planned,
                                                  dependencies: state.resources[entry.address]?.dependencies ?? [])
            state.resources[entry.address] = adopted
            return Resolution(entry: entry, adopt: adopted, outcome: .recovered,
                              note: "\(entry.address): the create in flight made \(found.id); adopted into state")
        } catch {
            return Resolution(entry: entry, outcome: nil,
                              note: "\(entry.address): could not look up the create in flight (kept in the journal): \(describe(error))")
        }
    }

    static func recoverDelete(_ entry: JournalEntry, session: any ConfiguredProvider, state: inout StackState) async -> Resolution {
        let recorded = state.resources[entry.address]
        let deposed = isDeposed(entry, in: state)
        guard let id = entry.planned[objectIDKey]?.stringValue ?? recorded?.id else {
            return Resolution(entry: entry, outcome: .recovered, note: "\(entry.address): the delete in flight had already been recorded")
        }
        if !deposed, recorded == nil || recorded?.id != id {
            return Resolution(entry: entry, outcome: .recovered, note: "\(entry.address): the delete in flight had already been recorded")
        }
        let prior = entry.planned.filter { $0.key != objectIDKey && $0.key != deposedKey }
        let now: ReadResponse?
        do {
            now = try await session.read(ReadRequest(type: entry.type, address: entry.address, id: id, prior: prior))
        } catch {
            return Resolution(entry: entry, outcome: nil,
                              note: "\(entry.address): could not learn whether the delete of \(id) in flight completed (kept in the journal): \(describe(error))")
        }
        switch (now, deposed) {
        case (nil, false):
            state.resources[entry.address] = nil
            return Resolution(entry: entry, remove: entry.address, outcome: .recovered,
                              note: "\(entry.address): the delete in flight completed; removed from state")
        case (_?, false):
            return Resolution(entry: entry, outcome: .abandoned,
                              note: "\(entry.address): the delete in flight did not complete; it still exists")
        case (nil, true):
            return Resolution(entry: entry, outcome: .recovered, note: "\(entry.address): the deposed object \(id) is gone")
        case (_?, true):
            return Resolution(entry: entry, outcome: nil,
                              note: "\(entry.address): the deposed object \(id) (replaced with create_before_destroy) still exists; apply deletes it")
        }
    }

    /// Writes the resolutions (under the stack lock); rows whose outcome is unknown stay open.
    public static func commit(_ resolutions: [Resolution], store: any StateWriter, stack: String) async throws {
        for r in resolutions {
            guard let outcome = r.outcome else { continue }
            try await store.journalFinish(stack: stack, journalID: r.entry.id, outcome: outcome, message: r.note,
                                          store: r.adopt, remove: r.remove)
        }
    }

    /// Deletes the deposed objects a previous run left (create_before_destroy interrupted between
    /// making the replacement and deleting the old object). Runs at the start of an apply, under
    /// the lock; returns a line per object for the display, and what failed.
    static func deleteDeposed(store: any StateStore, stack: StackDeclaration, state: StackState, sessions: ProviderSessions,
                              variables: [String: Value]) async -> [(ResourceAddress, String, failed: Bool)] {
        guard let entries = try? await store.unfinishedJournal(stack: stack.name) else { return [] }
        var out: [(ResourceAddress, String, failed: Bool)] = []
        for entry in entries where isDeposed(entry, in: state) {
            guard let id = entry.planned[objectIDKey]?.stringValue,
                  let session = await configuredSession(entry.provider, stack: stack, state: state, sessions: sessions,
                                                        variables: variables) else { continue }
            let prior = entry.planned.filter { $0.key != objectIDKey && $0.key != deposedKey }
            do {
                try await session.delete(DeleteRequest(type: entry.type, address: entry.address, id: id, prior: prior))
                try await store.closeJournal(id: entry.id, outcome: .succeeded, message: "deposed object \(id) deleted")
                out.append((entry.address, "deleted the deposed object \(id)", false))
            } catch {
                out.append((entry.address, "could not delete the deposed object \(id): \(describe(error))", true))
            }
        }
        return out
    }

    static func configuredSession(_ provider: String, stack: StackDeclaration, state: StackState, sessions: ProviderSessions,
                                  variables: [String: Value]) async -> (any ConfiguredProvider)? {
        var table = ValueTable(stack: stack, prior: state, unrecorded: .unknown)
        guard let values = try? table.providerConfiguration(provider, variables: variables),
              !values.values.contains(where: \.containsUnknown) else { return nil }
        return try? await sessions.session(provider, values: values)
    }
}
