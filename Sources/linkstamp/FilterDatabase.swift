import Linkstamp
import LinkstampFilterCommand
import PostgresState

/// `filter` with `database_url`: the message is checked first (a refusal never touches the
/// database), then one query asks which of its recipients are suppressed, and the events go
/// to the events table (and to `--events` too when given), inserted before the copies are
/// published and deleted again when publishing fails. A database that cannot be reached or
/// does not answer within `connect_timeout` is `4.3.0` (exit 75): nothing is written.
func filterWithDatabase(
    _ databaseURL: String, _ message: [UInt8], _ envelope: Envelope, _ engine: Engine, _ output: Filter.Output,
    _ events: String?
) throws(SMTPReply) {
    try Filter.checkSender(envelope.sender, limits: engine.limits)
    let pending = try engine.begin(message: message, envelope: envelope)
    let url: DatabaseURL
    do { url = try DatabaseURL(parsing: databaseURL) } catch {
        throw SMTPReply(code: 451, enhancedStatus: "4.3.5", text: "linkstamp \(error.description)")
    }
    let state = try blockingDatabase { try await PostgresState.connect(url) }
    defer { _ = try? blockingDatabase { await state.close() } }
    var suppression = SuppressionList()
    if pending.needsSuppression {
        let store = PostgresSuppressionStore(state: state)
        let addresses = pending.recipientAddresses
        suppression = try blockingDatabase { try await store.suppression(for: addresses) }
    }
    let transmission = try engine.prepare(pending, suppression: suppression)
    _ = try Filter.run(
        transmission, output: output, eventsPath: events, eventSink: PostgresFilterEvents(state: state))
}
