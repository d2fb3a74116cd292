/// The SQLite state schema migrations, embedded so the product needs no resource bundle.
///
/// These MUST equal the files in the repository's top-level `state/` directory (a unit test,
/// `SQLiteStateStoreTests.embeddedMigrationsMatchFiles`, compares them byte for byte). To change the
/// schema, add a new numbered file there and append the same text here; never edit a shipped one.
enum StateMigrations {
    /// In ascending version order.
    static let all: [SQLMigration] = [
        SQLMigration(version: 1, name: "001_initial.sql", sql: #"""
-- ethstack state schema, migration 1: stacks, resources, outputs, history, journal, locks.
-- Times are REAL unix seconds; JSON columns hold text written by Value.jsonString()
-- (sensitive marks stripped, unknown values stored as null).

CREATE TABLE stacks (
    name    TEXT PRIMARY KEY NOT NULL,
    lineage TEXT NOT NULL,
    serial  INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL
);

CREATE TABLE resources (
    stack                TEXT NOT NULL REFERENCES stacks(name) ON DELETE CASCADE,
    address              TEXT NOT NULL,
    type                 TEXT NOT NULL,
    provider             TEXT NOT NULL,
    id                   TEXT NOT NULL,
    attributes           TEXT NOT NULL DEFAULT '{}',
    sensitive_attributes TEXT NOT NULL DEFAULT '[]',
    dependencies         TEXT NOT NULL DEFAULT '[]',
    status               TEXT NOT NULL DEFAULT 'ready',
    schema_version       INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (stack, address)
);

CREATE TABLE outputs (
    stack     TEXT NOT NULL REFERENCES stacks(name) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    value     TEXT NOT NULL,
    sensitive INTEGER NOT NULL DEFAULT 0 CHECK (sensitive IN (0, 1)),
    PRIMARY KEY (stack, name)
);

CREATE TABLE history (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    stack   TEXT NOT NULL REFERENCES stacks(name) ON DELETE CASCADE,
    serial  INTEGER NOT NULL,
    who     TEXT NOT NULL,
    host    TEXT NOT NULL,
    at      REAL NOT NULL,
    command TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX history_by_stack ON history (stack, serial, id);

CREATE TABLE journal (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    stack    TEXT NOT NULL REFERENCES stacks(name) ON DELETE CASCADE,
    address  TEXT NOT NULL,
    type     TEXT NOT NULL,
    provider TEXT NOT NULL,
    action   TEXT NOT NULL,
    token    TEXT NOT NULL,
    planned  TEXT NOT NULL DEFAULT '{}',
    started  REAL NOT NULL,
    finished REAL,
    outcome  TEXT,
    message  TEXT
);
CREATE INDEX journal_unfinished ON journal (stack, id) WHERE finished IS NULL;

-- No foreign key to stacks: the first apply of a new stack locks it before the stack row exists.
CREATE TABLE locks (
    id        TEXT PRIMARY KEY NOT NULL,
    stack     TEXT NOT NULL UNIQUE,
    holder    TEXT NOT NULL,
    pid       INTEGER NOT NULL,
    host      TEXT NOT NULL,
    operation TEXT NOT NULL,
    created   REAL NOT NULL,
    expires   REAL NOT NULL
);

"""#),
        SQLMigration(version: 2, name: "002_sealed_values_and_lock_process.sql", sql: #"""
-- ethstack state schema, migration 2: sensitive values sealed (AES-GCM) and lock holders' processes.
-- resources.sealed and journal.sealed hold the sensitive attributes (planned values) of their row as
-- one envelope "esk1:KEYID:BASE64" (see state/README.md, "Encryption at rest"); the clear columns no
-- longer hold them. A sensitive output's value is such an envelope instead of JSON.
-- locks.process identifies the holder's process beyond host and pid (boot id, pid namespace, start
-- time), so a lock is taken over only when its holder is certainly gone.

ALTER TABLE resources ADD COLUMN sealed TEXT;
ALTER TABLE journal ADD COLUMN sealed TEXT;
ALTER TABLE locks ADD COLUMN process TEXT NOT NULL DEFAULT '';

"""#),
    ]

    /// The newest schema version this code knows.
    static var latestVersion: Int { all.last?.version ?? 0 }
}
