import Foundation
import EthstackLanguage
import EthstackModel
import EthstackProviderAPI

/// What a previous run left in flight (a crash, SIGKILL, a second Ctrl-C): the journal rows it
/// opened and never closed. Each provider is asked to look its object up by the mark the create
/// put on it; what exists is adopted into state, what does not is planned again.
public enum JournalRecovery {
    public struct Resolution: Sendable {
        public var entry: JournalEntry
        public var adopt: ResourceState?
        public var remove: ResourceAddress?
        public var outcome: JournalEntry.Outcome
        public var note: String
    }

    /// Looks up every unfinished row. Changes nothing; returns the state as it would be after recovery.
    public static func examine(store: any StateReader, stack: StackDeclaration, state: StackState, registry: ProviderRegistry,
                               sessions: ProviderSessions, variables: [String: Value]) async -> (StackState, [Resolution]) {
        guard let entries = try? await store.unfinishedJournal(stack: stack.name), !entries.isEmpty else { return (state, []) }
        var result = state
        var resolutions: [Resolution] = []
        for entry in entries {
            let session = await configuredSession(entry.provider, stack: stack, state: state, sessions: sessions, variables: variables)
            guard let session else {
                resolutions.append(Resolution(entry: entry, adopt: nil, remove: nil, outcome: .abandoned,
                                              note: "\(entry.address): \(entry.action) was in flight; its provider \(entry.provider) cannot be configured yet to look it up"))
                continue
            }
            switch entry.action {
            case .create:
                let mark = ResourceMark(stack: stack.name, address: entry.address, token: entry.token)
                do {
                    if let found = try await session.find(FindRequest(type: entry.type, address: entry.address,
                                                                       mark: mark, planned: entry.planned)) {
                        let adopted = ResourceState.recording(address: entry.address, type: entry.type, provider: entry.provider,
                                                              id: found.id, attributes: found.attributes,
                                                              schema: registry.schema(for: entry.type), planned: entry.planned,
                                                              dependencies: state.resources[entry.address]?.dependencies ?? [])
                        result.resources[entry.address] = adopted
                        resolutions.append(Resolution(entry: entry, adopt: adopted, remove: nil, outcome: .recovered,
                                                      note: "\(entry.address): the create in flight made \(found.id); adopted into state"))
                    } else {
                        resolutions.append(Resolution(entry: entry, adopt: nil, remove: nil, outcome: .abandoned,
                                                      note: "\(entry.address): the create in flight made nothing; it is planned again"))
                    }
                } catch {
                    resolutions.append(Resolution(entry: entry, adopt: nil, remove: nil, outcome: .abandoned,
                                                  note: "\(entry.address): could not look up the create in flight: \(describe(error))"))
                }
            case .delete:
                guard let recorded = state.resources[entry.address] else {
                    resolutions.append(Resolution(entry: entry, adopt: nil, remove: nil, outcome: .recovered,
                                                  note: "\(entry.address): the delete in flight had already been recorded"))
                    continue
                }
                let now = try? await session.read(ReadRequest(type: entry.type, address: entry.address,
                                                              id: recorded.id, prior: recorded.attributes))
                if now == nil {
                    result.resources[entry.address] = nil
                    resolutions.append(Resolution(entry: entry, adopt: nil, remove: entry.address, outcome: .recovered,
                                                  note: "\(entry.address): the delete in flight completed; removed from state"))
                } else {
                    resolutions.append(Resolution(entry: entry, adopt: nil, remove: nil, outcome: .abandoned,
                                                  note: "\(entry.address): the delete in flight did not complete; it still exists"))
                }
            case .update:
                resolutions.append(Resolution(entry: entry, adopt: nil, remove: nil, outcome: .abandoned,
                                              note: "\(entry.address): an \(entry.action) was in flight; the refresh shows where it got"))
            }
        }
        return (result, resolutions)
    }

    /// Writes the resolutions (under the stack lock).
    public static func commit(_ resolutions: [Resolution], store: any StateWriter, stack: String) async throws {
        for r in resolutions {
            try await store.journalFinish(stack: stack, journalID: r.entry.id, outcome: r.outcome, message: r.note,
                                    store: r.adopt, remove: r.remove)
        }
    }

    static func configuredSession(_ provider: String, stack: StackDeclaration, state: StackState, sessions: ProviderSessions,
                                  variables: [String: Value]) async -> (any ConfiguredProvider)? {
        var table = ValueTable(stack: stack, prior: state, unrecorded: .unknown)
        guard let values = try? table.providerConfiguration(provider, variables: variables),
              !values.values.contains(where: \.containsUnknown) else { return nil }
        return try? await sessions.session(provider, values: values)
    }
}
