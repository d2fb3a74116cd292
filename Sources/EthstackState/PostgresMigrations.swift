import Foundation
import EthstackModel

/// The PostgreSQL state schema migrations, embedded so the product needs no resource bundle.
///
/// These MUST equal the files in the repository's `state/postgres/` directory (a unit test,
/// `PostgresStateStoreTests.embeddedMigrationsMatchFiles`, compares them byte for byte). To change
/// the schema, add a new numbered file there and append the same text here; never edit a shipped one.
enum PostgresMigrations {
    /// In ascending version order.
    static let all: [SQLMigration] = [
        SQLMigration(version: 1, name: "001_initial.sql", sql: #"""
-- ethstack state schema for PostgreSQL, migration 1: stacks, resources, outputs, history, journal, locks.
-- Everything lives in the schema "ethstack" (created by the store before any migration, with the
-- ethstack.schema_migrations table). Times are DOUBLE PRECISION unix seconds (to_timestamp(x) to read
-- them); JSON columns hold text written by Value.jsonString() (sensitive marks stripped, unknown
-- values stored as null): cast with ::jsonb to query inside them.
-- The store runs each statement of this file on its own, inside one transaction: statements are
-- separated by a semicolon at the end of a line, and no statement may contain one.

CREATE TABLE ethstack.stacks (
    name    TEXT PRIMARY KEY,
    lineage TEXT NOT NULL,
    serial  BIGINT NOT NULL DEFAULT 0,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);

CREATE TABLE ethstack.resources (
    stack                TEXT NOT NULL REFERENCES ethstack.stacks(name) ON DELETE CASCADE,
    address              TEXT NOT NULL,
    type                 TEXT NOT NULL,
    provider             TEXT NOT NULL,
    id                   TEXT NOT NULL,
    attributes           TEXT NOT NULL DEFAULT '{}',
    sensitive_attributes TEXT NOT NULL DEFAULT '[]',
    dependencies         TEXT NOT NULL DEFAULT '[]',
    status               TEXT NOT NULL DEFAULT 'ready' CHECK (status IN ('ready', 'tainted')),
    schema_version       BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (stack, address)
);

CREATE TABLE ethstack.outputs (
    stack     TEXT NOT NULL REFERENCES ethstack.stacks(name) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    value     TEXT NOT NULL,
    sensitive BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (stack, name)
);

CREATE TABLE ethstack.history (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stack   TEXT NOT NULL REFERENCES ethstack.stacks(name) ON DELETE CASCADE,
    serial  BIGINT NOT NULL,
    who     TEXT NOT NULL,
    host    TEXT NOT NULL,
    at      DOUBLE PRECISION NOT NULL,
    command TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX history_by_stack ON ethstack.history (stack, serial, id);

CREATE TABLE ethstack.journal (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stack    TEXT NOT NULL REFERENCES ethstack.stacks(name) ON DELETE CASCADE,
    address  TEXT NOT NULL,
    type     TEXT NOT NULL,
    provider TEXT NOT NULL,
    action   TEXT NOT NULL,
    token    TEXT NOT NULL,
    planned  TEXT NOT NULL DEFAULT '{}',
    started  DOUBLE PRECISION NOT NULL,
    finished DOUBLE PRECISION,
    outcome  TEXT,
    message  TEXT
);
CREATE INDEX journal_by_stack ON ethstack.journal (stack, id);
CREATE INDEX journal_unfinished ON ethstack.journal (stack, id) WHERE finished IS NULL;

-- No foreign key to stacks: the first apply of a new stack locks it before the stack row exists.
CREATE TABLE ethstack.locks (
    id        TEXT PRIMARY KEY,
    stack     TEXT NOT NULL UNIQUE,
    holder    TEXT NOT NULL,
    pid       INTEGER NOT NULL,
    host      TEXT NOT NULL,
    operation TEXT NOT NULL,
    created   DOUBLE PRECISION NOT NULL,
    expires   DOUBLE PRECISION NOT NULL
);

"""#),
        SQLMigration(version: 2, name: "002_sealed_values_and_lock_process.sql", sql: #"""
-- ethstack state schema for PostgreSQL, migration 2: sensitive values sealed (AES-GCM) and lock
-- holders' processes. resources.sealed and journal.sealed hold the sensitive attributes (planned
-- values) of their row as one envelope "esk1:KEYID:BASE64" (see state/README.md, "Encryption at
-- rest"); the clear columns no longer hold them. A sensitive output's value is such an envelope
-- instead of JSON. locks.process identifies the holder's process beyond host and pid.

ALTER TABLE ethstack.resources ADD COLUMN sealed TEXT;
ALTER TABLE ethstack.journal ADD COLUMN sealed TEXT;
ALTER TABLE ethstack.locks ADD COLUMN process TEXT NOT NULL DEFAULT '';

"""#),
    ]

    /// The newest schema version this code knows.
    static var latestVersion: Int { all.last?.version ?? 0 }

    /// A migration's statements, to run one by one (the extended query protocol takes one statement
    /// per query): comment lines dropped, split at a semicolon that ends a line.
    static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current: [Substring] = []
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("--") || trimmed.isEmpty { continue }
            if trimmed.hasSuffix(";"), let semicolon = line.lastIndex(of: ";") {
                current.append(line[..<semicolon])
                statements.append(current.joined(separator: "\n"))
                current = []
            } else {
                current.append(line)
            }
        }
        let rest = current.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        if !rest.isEmpty { statements.append(rest) }
        return statements
    }
}
