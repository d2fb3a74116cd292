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
    ]

    /// The newest schema version this code knows.
    static var latestVersion: Int { all.last?.version ?? 0 }
}
