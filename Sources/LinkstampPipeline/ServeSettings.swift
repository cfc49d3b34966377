import Foundation

/// The configuration keys of `linkstamp serve` (the tracking endpoint, issue 11), read from the
/// same file as the filter's. Every key has a default.
///
/// | key | default | meaning |
/// | --- | --- | --- |
/// | `serve_listen` | `127.0.0.1:8025` | address the endpoint listens on (`--listen` overrides) |
/// | `serve_events` | none | event journal, JSON lines (`--events` overrides; none = stdout) |
/// | `rate_limit_requests` | `300` | requests one source may make per window before `403` |
/// | `rate_limit_window_seconds` | `60` | the rate-limit window |
/// | `max_connections` | `2048` | connections served at once; more wait in the backlog |
/// | `idle_timeout_seconds` | `30` | a connection with nothing to read for this long is closed |
/// | `header_timeout_seconds` | `10` | a request line and header not complete in this time: closed |
/// | `max_header_bytes` | `16384` | longest request line or header field (longer: connection closed) |
/// | `trust_forwarded_for` | `false` | take the client address from `X-Forwarded-For` (behind a proxy) |
/// | `machine_seconds_after_injection` | `10` | opens and clicks this soon after injection are machine |
/// | `machine_proxy_ranges` | none | file of CIDR ranges of image proxies (Apple Mail Privacy Protection) |
/// | `scanner_trap_link` | `false` | the filter adds one invisible trap link per HTML copy |
/// | `webhook_url` | none | `http`/`https` URL that gets the journal's events in batches (needs a journal file) |
/// | `webhook_authorization` | none | value of the `Authorization` header of every batch, e.g. `Bearer …` |
/// | `webhook_batch_size` | `100` | events per batch, at most (1–1000) |
/// | `webhook_timeout_seconds` | `10` | one batch's request must complete within this, else it is retried |
public struct ServeSettings: Sendable, Hashable {
    /// `serve_listen`: `HOST:PORT`.
    public var listen = "127.0.0.1:8025"
    /// `serve_events`: the journal file, if set.
    public var eventsPath: String?
    /// `rate_limit_requests`: requests per source and window.
    public var rateLimitRequests = 300
    /// `rate_limit_window_seconds`.
    public var rateLimitWindowSeconds = 60
    /// `max_connections`.
    public var maxConnections = 2048
    /// `idle_timeout_seconds`.
    public var idleTimeoutSeconds = 30
    /// `header_timeout_seconds`.
    public var headerTimeoutSeconds = 10
    /// `max_header_bytes`: request line and each header field.
    public var maxHeaderBytes = 16384
    /// `trust_forwarded_for`.
    public var trustForwardedFor = false
    /// `machine_seconds_after_injection`.
    public var machineSecondsAfterInjection = 10
    /// `machine_proxy_ranges`: CIDR file, if set.
    public var machineProxyRangesPath: String?
    /// `scanner_trap_link`: the filter adds the invisible trap link.
    public var scannerTrapLink = false
    /// `webhook_url`: where batches of events are POSTed, if set (`http` or `https`).
    public var webhookURL: String?
    /// `webhook_authorization`: the `Authorization` header value sent with every batch, if set.
    public var webhookAuthorization: String?
    /// `webhook_batch_size`: events per batch, at most.
    public var webhookBatchSize = 100
    /// `webhook_timeout_seconds`: limit on one batch request.
    public var webhookTimeoutSeconds = 10

    /// The defaults listed above.
    public init() {}

    /// Sets `key` from `value`; false when the key is not one of these.
    mutating func set(
        _ key: String, _ value: String, line: Int, flag: () throws(ConfigurationError) -> Bool, path: () -> String
    ) throws(ConfigurationError) -> Bool {
        func number(_ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            guard let number = Int(value), range.contains(number) else {
                throw ConfigurationError(
                    line: line,
                    message: "'\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        switch key {
        case "serve_listen": listen = value
        case "serve_events": eventsPath = value.isEmpty ? nil : path()
        case "rate_limit_requests": rateLimitRequests = try number(1...1_000_000)
        case "rate_limit_window_seconds": rateLimitWindowSeconds = try number(1...86_400)
        case "max_connections": maxConnections = try number(1...1_000_000)
        case "idle_timeout_seconds": idleTimeoutSeconds = try number(1...3600)
        case "header_timeout_seconds": headerTimeoutSeconds = try number(1...3600)
        case "max_header_bytes": maxHeaderBytes = try number(1024...1_048_576)
        case "trust_forwarded_for": trustForwardedFor = try flag()
        case "machine_seconds_after_injection": machineSecondsAfterInjection = try number(0...3600)
        case "machine_proxy_ranges": machineProxyRangesPath = value.isEmpty ? nil : path()
        case "scanner_trap_link": scannerTrapLink = try flag()
        case "webhook_url": webhookURL = value.isEmpty ? nil : try Self.webhookURL(value, line: line)
        case "webhook_authorization":
            guard value.unicodeScalars.allSatisfy({ (0x20...0x7E).contains($0.value) }) else {
                throw ConfigurationError(line: line, message: "'webhook_authorization' must be printable ASCII")
            }
            webhookAuthorization = value.isEmpty ? nil : value
        case "webhook_batch_size": webhookBatchSize = try number(1...1000)
        case "webhook_timeout_seconds": webhookTimeoutSeconds = try number(1...300)
        default: return false
        }
        return true
    }

    /// `value` when it is an absolute `http`/`https` URL with a host and no user name or password.
    static func webhookURL(_ value: String, line: Int) throws(ConfigurationError) -> String {
        guard let url = URLComponents(string: value), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
        else {
            throw ConfigurationError(line: line, message: "'webhook_url' must be an http or https URL with a host")
        }
        guard url.user == nil, url.password == nil else {
            throw ConfigurationError(
                line: line, message: "'webhook_url' must not carry credentials: set 'webhook_authorization'")
        }
        return value
    }
}
