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
        default: return false
        }
        return true
    }
}
