/// # TrackingServer
///
/// Owns `linkstamp serve`: the HTTP endpoint that answers the click, open and unsubscribe URLs
/// the filter writes (Hummingbird 2 over SwiftNIO), the engagement events it records in
/// SparkPost's webhook shape, the journal and suppression stores behind `EventJournal` and
/// `SuppressionStore`, per-source rate limiting, request-head limits, and the machine verdict
/// on opens and clicks.
///
/// What this module must never do:
/// - redirect anywhere but to an `http`/`https` target sealed in a token that decodes under the
///   key ring (anything else is a 404 page with no `Location`),
/// - unsubscribe on a `GET`, or on a link click classified as machine-made,
/// - answer a request whose event it could not append whole to the journal,
/// - hold state beyond the journal, the suppression list and short-lived counters (rate limits,
///   recent clicks): everything an event needs travels in the URL's tokens,
/// - read token bytes itself (``TrackingDecoder`` does) or prepare and render mail.
///
/// Depends on `Tracking` (decoding), `Linkstamp` (configuration and its `serve` keys),
/// `SMTPAPI`, Hummingbird 2 over SwiftNIO, swift-log, swift-metrics with swift-prometheus,
/// swift-service-lifecycle and async-http-client.
