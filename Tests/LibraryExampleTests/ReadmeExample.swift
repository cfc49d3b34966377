import Linkstamp

// Once per process: configuration, key ring (created on first use), suppression list.
func loadEngine() throws(SMTPReply) -> Engine {
    try Engine.load(configurationPath: "/etc/linkstamp/linkstamp.conf")
}

// Once per message, then once per copy. `bytes` is the message as received; `enqueue` is your
// relay's queue.
func relay(
    _ bytes: [UInt8], from sender: String, to recipients: [String], engine: Engine,
    enqueue: (_ from: String, _ to: String, _ data: [UInt8], _ event: String) throws -> Void
) throws {
    // Everything that does not depend on the recipient, once.
    let transmission = try engine.prepare(
        message: bytes, envelope: Envelope(sender: sender, recipients: recipients))
    // The copy's token spliced into prepared segments, written to your sink.
    for copy in transmission.copies {  // RCPT TO, then cc, bcc, archive
        var output: [UInt8] = []  // or any `CopySink`
        try transmission.render(copy, into: &output)
        let event = Events.injection(transmission, copy: copy, messageSize: output.count)
        try enqueue(transmission.envelope.sender, copy.address, output, event)
    }
}

// In a click server: the event a tracked URL stands for (a forged or expired one throws).
func click(url: String, keyRing: KeyRing, now unixSeconds: Int64) throws(TrackingError) -> TrackedEvent {
    try TrackingDecoder.decode(url: url, keyRing: keyRing, now: unixSeconds)
}
