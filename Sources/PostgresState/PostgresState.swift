// PostgresState: the suppression list and the event journal in PostgreSQL (`database_url`),
// shared by every `filter`/`serve`/`smtpd` node. Owns the schema and the queries; never parses
// mail or decodes tokens. Depends on `Linkstamp`, `TrackingServer` (the `EventJournal` and
// `SuppressionStore` protocols it implements) and PostgresNIO.
import PostgresNIO
