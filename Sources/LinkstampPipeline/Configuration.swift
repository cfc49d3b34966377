import Foundation
import MailBytes
import Tracking

/// What an operator configures once for a relay. Every field has a default, so the filter
/// works with no configuration at all.
///
/// The file format is one `key = value` per line; `#` starts a comment; booleans are
/// `true`/`false`/`yes`/`no`/`on`/`off`/`1`/`0`. Unknown keys are an error (a typo must not
/// silently disable tracking). Keys:
///
/// | key | default | meaning |
/// | --- | --- | --- |
/// | `tracking_domain` | `links.linkstamp.invalid` | host of every tracked URL (a placeholder: set yours) |
/// | `key_ring` | `$XDG_CONFIG_HOME/linkstamp/keys` | token keys; created on first use, mode 0600 |
/// | `open_tracking` | `false` | default when the message does not say (SparkPost's default) |
/// | `click_tracking` | `false` | default when the message does not say |
/// | `transactional` | `false` | default when the message does not say |
/// | `initial_open_pixel` | `true` | also insert the pixel right after `<body>` |
/// | `text_tracking` | `true` | track URLs in text/plain parts (`false` = SparkPost's "htmlonly") |
/// | `unsubscribe_https` | `true` | one-click `https://<tracking_domain>/u/…` List-Unsubscribe |
/// | `unsubscribe_mailto` | none | address for a `mailto:` List-Unsubscribe |
/// | `suppression_list` | none | file of suppressed addresses (see `SuppressionList`) |
/// | `database_url` | none | `postgresql://USER:PASSWORD@HOST:PORT/DB`: suppression list and events in PostgreSQL, shared by every node |
/// | `sandbox_domain` | none | when set, `sandbox` messages must come From this domain |
/// | `token_lifetime_days` | `365` | how long tracked URLs stay valid |
/// | `serve_*` and others | | the tracking endpoint's keys: see ``ServeSettings`` |
/// | `smtpd_max_connections` | `100` | `linkstamp smtpd`: simultaneous clients |
/// | `smtpd_idle_timeout_seconds` | `60` | `linkstamp smtpd`: silence before `421 4.4.2` |
/// | `smtpd_max_messages_per_connection` | `100` | `linkstamp smtpd`: messages before `421 4.7.0` |
/// | `smtpd_max_message_bytes` | `20971520` | `linkstamp smtpd`: advertised `SIZE` (`552 5.3.4` past it) |
/// | `smtpd_max_recipients` | `1000` | `linkstamp smtpd`: RCPT TO per message (`452 4.5.3` past it) |
/// | `smtpd_tls_certificate` | none | `linkstamp smtpd`: PEM certificate chain; with the key, offers STARTTLS |
/// | `smtpd_tls_key` | none | `linkstamp smtpd`: PEM private key of that certificate |
/// | `smtpd_tls_required` | `false` | `linkstamp smtpd`: MAIL before STARTTLS is `530 5.7.0` |
/// | `smtpd_credentials` | none | `linkstamp smtpd`: AUTH users file (`user:$scrypt$…` lines) |
/// | `smtpd_auth_required` | `false` | `linkstamp smtpd`: MAIL before AUTH is `530 5.7.0` |
/// | `smtpd_auth_allow_plaintext` | `false` | `linkstamp smtpd`: offer AUTH without TLS (loopback tests only) |
public struct Configuration: Sendable, Hashable {
    /// The host of every tracked URL.
    public var trackingDomain: String = Configuration.placeholderTrackingDomain
    /// Path of the key ring file.
    public var keyRingPath: String = Configuration.defaultKeyRingPath()
    /// Open tracking when the message does not say.
    public var openTracking: Bool = false
    /// Click tracking when the message does not say.
    public var clickTracking: Bool = false
    /// Transactional when the message does not say.
    public var transactional: Bool = false
    /// Insert the `initial_open` pixel after `<body>` (when there are `<html>` and `<body>` tags).
    public var initialOpenPixel: Bool = true
    /// Track URLs in text/plain body parts.
    public var textTracking: Bool = true
    /// Add an https one-click List-Unsubscribe on the tracking domain.
    public var unsubscribeHTTPS: Bool = true
    /// Address for a `mailto:` List-Unsubscribe, if any.
    public var unsubscribeMailto: String?
    /// Path of the suppression list file, if any.
    public var suppressionListPath: String?
    /// `database_url`: the PostgreSQL database holding the shared suppression list and events
    /// (`postgresql://…` or `postgres://…`), if any. Parsed and used by the commands, not by
    /// the library.
    public var databaseURL: String?
    /// Domain `sandbox` messages must be sent from, if any.
    public var sandboxDomain: String?
    /// Lifetime of tracked URLs, in days.
    public var tokenLifetimeDays: Int = 365
    /// Keys of `linkstamp serve` (see ``ServeSettings``).
    public var serve = ServeSettings()
    /// `linkstamp smtpd` limits (see the table above).
    public var smtpdMaxConnections: Int = 100
    /// Seconds of client silence `linkstamp smtpd` allows.
    public var smtpdIdleTimeoutSeconds: Int = 60
    /// Messages per connection `linkstamp smtpd` allows.
    public var smtpdMaxMessagesPerConnection: Int = 100
    /// Largest message `linkstamp smtpd` accepts, in bytes.
    public var smtpdMaxMessageBytes: Int = 20 << 20
    /// Most recipients per message `linkstamp smtpd` accepts.
    public var smtpdMaxRecipients: Int = 1000
    /// PEM certificate chain `linkstamp smtpd` offers STARTTLS with, if any.
    public var smtpdTLSCertificatePath: String?
    /// PEM private key of `smtpdTLSCertificatePath`.
    public var smtpdTLSKeyPath: String?
    /// `linkstamp smtpd` refuses MAIL before STARTTLS.
    public var smtpdTLSRequired: Bool = false
    /// AUTH users file of `linkstamp smtpd`, if any.
    public var smtpdCredentialsPath: String?
    /// `linkstamp smtpd` refuses MAIL before AUTH.
    public var smtpdAuthRequired: Bool = false
    /// `linkstamp smtpd` offers AUTH on connections without TLS too.
    public var smtpdAuthAllowPlaintext: Bool = false

    /// The documented placeholder used until an operator sets `tracking_domain`.
    public static let placeholderTrackingDomain = "links.linkstamp.invalid"

    /// The built-in defaults.
    public init() {}

    /// Whether an operator set `tracking_domain`. Without it every tracked URL points at the
    /// placeholder host, which resolves nowhere: the filter warns once per run and events say
    /// `"tracking_domain_configured": false`.
    public var trackingDomainConfigured: Bool { trackingDomain != Configuration.placeholderTrackingDomain }

    /// `$XDG_CONFIG_HOME/linkstamp/keys`, or `~/.config/linkstamp/keys`.
    public static func defaultKeyRingPath(environment: [String: String]) -> String {
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty {
            return xdg + "/linkstamp/keys"
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.config/linkstamp/keys"
    }

    /// Parses a configuration file's text. Relative paths are taken relative to `baseDirectory`.
    public init(parsing text: String, baseDirectory: String? = nil) throws(ConfigurationError) {
        self.init()
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmingConfigurationWhitespace()
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw ConfigurationError(line: lineNumber, message: "expected 'key = value'")
            }
            let key = trimmed[..<equals].trimmingConfigurationWhitespace().lowercased()
            var value = trimmed[trimmed.index(after: equals)...].trimmingConfigurationWhitespace()
            if value.count >= 2, value.first == "\"", value.last == "\"" {
                value = String(value.dropFirst().dropLast())
            }
            func flag() throws(ConfigurationError) -> Bool {
                switch value.lowercased() {
                case "true", "yes", "on", "1": return true
                case "false", "no", "off", "0": return false
                default:
                    throw ConfigurationError(
                        line: lineNumber, message: "'\(key)' must be true or false, not '\(value)'")
                }
            }
            func path() -> String {
                if value.hasPrefix("/") || baseDirectory == nil { return value }
                return (baseDirectory ?? ".") + "/" + value
            }
            switch key {
            case "tracking_domain":
                do { try TrackingURLBuilder.validateDomain(value) } catch {
                    throw ConfigurationError(
                        line: lineNumber, message: "'tracking_domain' must be a host name, not '\(value)'")
                }
                trackingDomain = value.lowercased()
            case "key_ring": keyRingPath = path()
            case "open_tracking": openTracking = try flag()
            case "click_tracking": clickTracking = try flag()
            case "transactional": transactional = try flag()
            case "initial_open_pixel": initialOpenPixel = try flag()
            case "text_tracking": textTracking = try flag()
            case "htmlonly": textTracking = try !flag()
            case "unsubscribe_https": unsubscribeHTTPS = try flag()
            case "unsubscribe_mailto": unsubscribeMailto = value.isEmpty ? nil : value
            case "suppression_list": suppressionListPath = value.isEmpty ? nil : path()
            case "database_url":
                guard value.isEmpty || value.hasPrefix("postgresql://") || value.hasPrefix("postgres://") else {
                    throw ConfigurationError(line: lineNumber, message: "'database_url' must start with postgresql://")
                }
                databaseURL = value.isEmpty ? nil : value
            case "sandbox_domain": sandboxDomain = value.isEmpty ? nil : value.lowercased()
            case "token_lifetime_days":
                guard let days = Int(value), days > 0, days <= 3650 else {
                    throw ConfigurationError(
                        line: lineNumber, message: "'token_lifetime_days' must be a whole number from 1 to 3650")
                }
                tokenLifetimeDays = days
            case "smtpd_max_connections", "smtpd_idle_timeout_seconds", "smtpd_max_messages_per_connection",
                "smtpd_max_message_bytes", "smtpd_max_recipients":
                guard let number = Int(value), number > 0, number <= 1 << 40 else {
                    throw ConfigurationError(line: lineNumber, message: "'\(key)' must be a positive whole number")
                }
                switch key {
                case "smtpd_max_connections": smtpdMaxConnections = number
                case "smtpd_idle_timeout_seconds": smtpdIdleTimeoutSeconds = number
                case "smtpd_max_messages_per_connection": smtpdMaxMessagesPerConnection = number
                case "smtpd_max_message_bytes": smtpdMaxMessageBytes = number
                default: smtpdMaxRecipients = number
                }
            case "smtpd_tls_certificate": smtpdTLSCertificatePath = value.isEmpty ? nil : path()
            case "smtpd_tls_key": smtpdTLSKeyPath = value.isEmpty ? nil : path()
            case "smtpd_tls_required": smtpdTLSRequired = try flag()
            case "smtpd_credentials": smtpdCredentialsPath = value.isEmpty ? nil : path()
            case "smtpd_auth_required": smtpdAuthRequired = try flag()
            case "smtpd_auth_allow_plaintext": smtpdAuthAllowPlaintext = try flag()
            default:
                guard try serve.set(key, value, line: lineNumber, flag: flag, path: path) else {
                    throw ConfigurationError(line: lineNumber, message: "unknown key '\(key)'")
                }
            }
        }
    }
}

/// A configuration file that cannot be used, with the line at fault.
public struct ConfigurationError: SMTPReplyConvertible, Hashable, Sendable, CustomStringConvertible {
    /// 1-based line number; 0 when the file itself is at fault.
    public var line: Int
    /// What is wrong.
    public var message: String
    /// `line N: message`.
    public var description: String { line > 0 ? "configuration line \(line): \(message)" : message }
    /// `451 4.3.5 linkstamp <description>`: temporary, the operator must fix the setup.
    public var smtpReply: SMTPReply { SMTPReply(code: 451, enhancedStatus: "4.3.5", text: "linkstamp \(description)") }

    package init(line: Int, message: String) {
        self.line = line
        self.message = message
    }
}
