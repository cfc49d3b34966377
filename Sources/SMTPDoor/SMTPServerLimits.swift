/// Every limit the SMTP door enforces on its clients, in one value.
public struct SMTPServerLimits: Sendable, Hashable {
    /// Longest command line, CRLF included. Default 512 (RFC 5321 §4.5.3.1.4). A longer line is
    /// discarded up to its end and answered `500 5.5.2`.
    public var maxCommandLineBytes: Int = 512
    /// Most RCPT TO per transaction. Default 1 000 (`452 4.5.3` past it, as RFC 5321 §4.5.3.1.10 asks).
    public var maxRecipients: Int = 1_000
    /// Largest message (DATA content after dot-unstuffing). Default 20 MiB, advertised as `SIZE`
    /// (`552 5.3.4` past it).
    public var maxMessageBytes: Int = 20 << 20
    /// Most simultaneous client connections. Default 100; one more is told `421 4.7.0` and closed.
    public var maxConnections: Int = 100
    /// Seconds a client may stay silent before `421 4.4.2` and close. Default 60 (SparkPost's).
    public var idleTimeoutSeconds: Int = 60
    /// Most messages (end-of-DATA) per connection. Default 100 (SparkPost's); the next MAIL is
    /// told `421 4.7.0` and the connection closes.
    public var maxMessagesPerConnection: Int = 100
    /// Most refused commands per connection before `421 4.7.0` and close. Default 20 (Postfix's
    /// `smtpd_hard_error_limit`).
    public var maxErrors: Int = 20
    /// Failed AUTH attempts per connection: each is `535 5.7.8` and a refused command; the last
    /// one is followed by `421 4.7.0` and close. Default 3.
    public var maxAuthFailures: Int = 3
    /// Most bytes a client may pipeline while a message is being relayed. Default 64 KiB; past
    /// it the connection is closed with `421 4.7.0`.
    public var maxPendingBytes: Int = 64 << 10

    /// The defaults above.
    public init() {}
}
