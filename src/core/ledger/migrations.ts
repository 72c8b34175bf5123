/**
 * Schema migrations, applied in order; PRAGMA user_version holds the number
 * applied. Never edit a released migration: add a new one.
 *
 * Times are integers, milliseconds since the Unix epoch (UTC).
 * Name sets are stored twice: `names_json` (as requested, in order) and
 * `set_key` (lower-cased, sorted, comma-joined: the CA's "exact set").
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the first schema.
  `
  CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    directory_url TEXT NOT NULL UNIQUE,
    ca_id TEXT NOT NULL,
    account_url TEXT,
    key_path TEXT NOT NULL,
    key_type TEXT NOT NULL,
    email TEXT,
    eab_kid TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );

  CREATE TABLE lineages (
    name TEXT PRIMARY KEY,
    names_json TEXT NOT NULL,
    set_key TEXT NOT NULL,
    ca_id TEXT NOT NULL,
    directory_url TEXT NOT NULL,
    key_type TEXT NOT NULL,
    challenge TEXT NOT NULL,
    webroot TEXT,
    standalone_addr TEXT,
    settings_json TEXT NOT NULL DEFAULT '{}',
    current_version INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX lineages_set ON lineages(set_key);

  CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    lineage TEXT,
    bundle_id TEXT,
    role TEXT NOT NULL DEFAULT 'main',
    account_id INTEGER REFERENCES accounts(id),
    ca_id TEXT NOT NULL,
    directory_url TEXT NOT NULL,
    names_json TEXT NOT NULL,
    set_key TEXT NOT NULL,
    key_type TEXT NOT NULL,
    key_path TEXT,
    csr_pem TEXT,
    order_url TEXT,
    finalize_url TEXT,
    certificate_url TEXT,
    replaces TEXT,
    profile TEXT,
    status TEXT NOT NULL,
    step TEXT NOT NULL,
    state TEXT NOT NULL,
    forced INTEGER NOT NULL DEFAULT 0,
    precheck_skipped INTEGER NOT NULL DEFAULT 0,
    error_json TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX orders_open ON orders(state, lineage);
  CREATE INDEX orders_account_time ON orders(account_id, created_at);
  CREATE INDEX orders_set ON orders(set_key, created_at);

  CREATE TABLE order_events (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id),
    at INTEGER NOT NULL,
    step TEXT NOT NULL,
    status TEXT,
    detail TEXT
  );
  CREATE INDEX order_events_order ON order_events(order_id, id);

  CREATE TABLE authorizations (
    id INTEGER PRIMARY KEY,
    order_id INTEGER REFERENCES orders(id),
    account_id INTEGER,
    directory_url TEXT NOT NULL,
    identifier TEXT NOT NULL,
    authz_url TEXT,
    status TEXT NOT NULL,
    challenge_type TEXT,
    error_type TEXT,
    error_detail TEXT,
    at INTEGER NOT NULL
  );
  CREATE INDEX authorizations_ident ON authorizations(identifier, at);

  CREATE TABLE certificates (
    id INTEGER PRIMARY KEY,
    lineage TEXT,
    version INTEGER,
    order_id INTEGER,
    bundle_id TEXT,
    role TEXT,
    source TEXT NOT NULL,
    ca_id TEXT,
    directory_url TEXT,
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    names_json TEXT NOT NULL,
    set_key TEXT NOT NULL,
    key_type TEXT,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    replaces TEXT,
    ari_cert_id TEXT,
    seen_in_ct INTEGER NOT NULL DEFAULT 0,
    fingerprint TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (issuer, serial)
  );
  CREATE INDEX certificates_set ON certificates(set_key, issued_at);
  CREATE INDEX certificates_lineage ON certificates(lineage, version);
  CREATE INDEX certificates_not_after ON certificates(not_after);

  CREATE TABLE certificate_domains (
    registered_domain TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    cert_id INTEGER NOT NULL REFERENCES certificates(id),
    PRIMARY KEY (registered_domain, issued_at, cert_id)
  ) WITHOUT ROWID;

  CREATE TABLE problems (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    ca_id TEXT,
    directory_url TEXT,
    account_id INTEGER,
    order_id INTEGER,
    lineage TEXT,
    endpoint TEXT,
    http_status INTEGER,
    type TEXT,
    detail TEXT,
    retry_after INTEGER,
    limit_name TEXT,
    scope TEXT
  );
  CREATE INDEX problems_retry ON problems(retry_after);

  CREATE TABLE renewal_info (
    cert_id INTEGER PRIMARY KEY REFERENCES certificates(id),
    ari_cert_id TEXT NOT NULL,
    window_start INTEGER,
    window_end INTEGER,
    chosen_at INTEGER,
    next_check INTEGER,
    explanation_url TEXT,
    fetched_at INTEGER NOT NULL
  );

  CREATE TABLE prechecks (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    name TEXT NOT NULL,
    check_name TEXT NOT NULL,
    ok INTEGER NOT NULL,
    summary TEXT NOT NULL,
    evidence_json TEXT,
    advice TEXT
  );
  CREATE INDEX prechecks_name ON prechecks(name, at);

  CREATE TABLE ct_sync (
    registered_domain TEXT PRIMARY KEY,
    synced_at INTEGER NOT NULL,
    complete INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    error TEXT
  );

  CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    command TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    exit_code INTEGER,
    summary_json TEXT
  );
  `,
  // 2: run locks (one certctl run at a time per ledger; survives a crashed holder).
  `
  CREATE TABLE locks (
    name TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    acquired_at INTEGER NOT NULL,
    heartbeat INTEGER NOT NULL
  );
  `,
  // 3: what each CA directory offers (ARI, profiles), cached so a renew run with nothing due sends nothing.
  `
  CREATE TABLE directories (
    url TEXT PRIMARY KEY,
    renewal_info TEXT,
    profiles_json TEXT,
    fetched_at INTEGER NOT NULL
  );
  `,
  // 4: revocation (certctl revoke): when, why (RFC 5280 reason name) and by whom ("account <url>",
  // "certificate key", or "the CA (already revoked)"). The row stays: a revoked certificate still
  // counts against the CA's limits, and a lineage whose current certificate is revoked is due.
  `
  ALTER TABLE certificates ADD COLUMN revoked_at INTEGER;
  ALTER TABLE certificates ADD COLUMN revoked_reason TEXT;
  ALTER TABLE certificates ADD COLUMN revoked_by TEXT;
  `,
  // 5: challenge responses that outlive the process (DNS-01 TXT records), journalled BEFORE the
  //    provider is asked to create them and removed once cleaned up, so the next run of the lineage
  //    removes what a crash left in DNS. record_json is the provider's plain record: never a secret.
  `
  CREATE TABLE challenge_records (
    id INTEGER PRIMARY KEY,
    lineage TEXT NOT NULL,
    kind TEXT NOT NULL,
    record_json TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX challenge_records_lineage ON challenge_records(lineage);
  `,
  // 6: the ACME account's life (certctl account): a deactivation (RFC 8555 §7.3.6) after which certctl
  // refuses to use the account, and the account keys' history (§7.3.5 rollover): a new key is
  // journalled 'pending' (its file written, 0600) BEFORE the keyChange POST and becomes 'current' only
  // once the CA confirmed it; the old one is then 'retired'. Thumbprints (RFC 7638) only, never keys.
  `
  ALTER TABLE accounts ADD COLUMN deactivated_at INTEGER;
  CREATE TABLE account_keys (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    key_path TEXT NOT NULL,
    thumbprint TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX account_keys_account ON account_keys(account_id, state);
  `,
  // 7: the fleet (docs/fleet.md). On a shared PostgreSQL ledger with a fleet key, every file of every
  //    certificate version is kept here, private keys sealed (AES-256-GCM under the fleet key, which
  //    never enters the database; key_id says which key sealed it, AAD binds it to its row), so any
  //    host writes live/ + archive/ from the ledger; the ACME account key likewise (accounts.key_sealed).
  //    lineage_hosts: which hosts deploy a lineage and the version each last wrote (pending_version:
  //    journalled before a host writes its files, cleared after its deploy hooks ran).
  //    fleet_meta: the fleet key id the ledger's secrets are sealed with. A SQLite ledger leaves all empty.
  `
  CREATE TABLE version_files (
    lineage TEXT NOT NULL,
    version INTEGER NOT NULL,
    file TEXT NOT NULL,
    secret INTEGER NOT NULL,
    data TEXT NOT NULL,
    key_id TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (lineage, version, file)
  );
  CREATE TABLE lineage_hosts (
    lineage TEXT NOT NULL,
    host TEXT NOT NULL,
    deployed_version INTEGER NOT NULL DEFAULT 0,
    deployed_at INTEGER,
    pending_version INTEGER,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (lineage, host)
  );
  CREATE TABLE fleet_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  ALTER TABLE accounts ADD COLUMN key_sealed TEXT;
  ALTER TABLE lineages ADD COLUMN renewed_by TEXT;
  ALTER TABLE lineages ADD COLUMN renewed_at INTEGER;
  `,
  // 8: CA fail-over (docs/cas.md). Each time issue/renew/apply chose a CA for a lineage with an
  //    ordered list of CAs: the CA chosen, the first of the list, whether it failed over, and why —
  //    shown by plan and status, sent to the hooks. Holds ids and reasons, never a credential.
  `
  CREATE TABLE ca_choices (
    id INTEGER PRIMARY KEY,
    lineage TEXT NOT NULL,
    at INTEGER NOT NULL,
    ca_id TEXT NOT NULL,
    directory_url TEXT NOT NULL,
    first_ca_id TEXT NOT NULL,
    failed_over INTEGER NOT NULL,
    reason TEXT NOT NULL
  );
  CREATE INDEX ca_choices_lineage ON ca_choices(lineage, id);
  `,
  // 9: the fleet's renewals (docs/fleet.md "Renewal by one host per lineage"). leases: one row per
  //    lineage being renewed — its holder (fleet host name, pid, machine) and when it expires
  //    (database server's clock, pushed forward by the holder's heartbeat); another host takes it
  //    only once expired, so ten hosts renew ten lineages at once and never one lineage twice.
  //    orders.key_sealed: an order's pending private key sealed under the fleet key (AAD
  //    order-key:<id>), so the host that resumes an order another host journalled has its key;
  //    cleared once the order is stored or closed. http_challenges: the key authorization of each
  //    pending HTTP-01 challenge of a fleet order, answered by `certctl serve` on every host; a row
  //    lives only while its challenge is pending (deleted at clean-up).
  `
  CREATE TABLE leases (
    lineage TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    machine TEXT NOT NULL,
    pid INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL,
    heartbeat INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  ALTER TABLE orders ADD COLUMN key_sealed TEXT;
  CREATE TABLE http_challenges (
    token TEXT PRIMARY KEY,
    key_authorization TEXT NOT NULL,
    lineage TEXT NOT NULL,
    identifier TEXT NOT NULL,
    host TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX http_challenges_lineage ON http_challenges(lineage);
  `,
  // 10: notifications (docs/notify.md). One row per event certctl decided to tell a person about
  //     (renewal failed, predicted block, headroom low, renewed, revoked, CA fail-over): its kind, its
  //     subject (the lineage, or the registered domain for headroom), the document sent, and which
  //     targets have it (`delivered_json`: target id → time). A row whose targets do not all have it
  //     is sent again by the next run; a new row of the same kind and subject is not made within the
  //     configured period. Holds what the message says, never a token, password or webhook URL.
  `
  CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    lineage TEXT,
    created_at INTEGER NOT NULL,
    payload_json TEXT NOT NULL,
    delivered_json TEXT NOT NULL DEFAULT '{}',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    done_at INTEGER
  );
  CREATE INDEX notifications_subject ON notifications(kind, subject, created_at);
  CREATE INDEX notifications_pending ON notifications(done_at, created_at);
  `,
  // 11: CA outages (docs/cas.md "Unreachable across runs"). One row per CA directory that could not be
  //     reached (connection refused, time-out, TLS or DNS failure, a cut connection, 5xx after the
  //     retries — never a 4xx answer, which is a CA that answered): since when, the last failure, how
  //     many distinct runs failed (last_run: the run that counted last), and what failed. The row is
  //     deleted as soon as the CA answers again. Fail-over counts these runs; never a credential.
  `
  CREATE TABLE ca_outages (
    directory_url TEXT PRIMARY KEY,
    ca_id TEXT NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    runs INTEGER NOT NULL,
    last_run TEXT NOT NULL,
    kind TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    detail TEXT NOT NULL
  );
  `,
  // 12: a notification is claimed by the run delivering it (claimed_by: host/pid, until when), so
  //     fleet hosts sharing one ledger whose cron fires in the same minute do not each send it. A
  //     run that dies while sending leaves a claim that expires; then another run sends it
  //     (at least once, with the same id).
  `
  ALTER TABLE notifications ADD COLUMN claimed_by TEXT;
  ALTER TABLE notifications ADD COLUMN claimed_until INTEGER;
  `,
  // 13: the current certificates' expiry from the index alone: status' order (the soonest
  //     not_after of each lineage's current version) and metrics' expiry families read it for every
  //     lineage, and with (lineage, version) only each read a certificate row as well (~0.25 s of
  //     CPU per pass on 100,000 lineages). It serves every look-up the old index did.
  `
  CREATE INDEX certificates_current ON certificates(lineage, version, not_after);
  DROP INDEX certificates_lineage;
  `,
];
