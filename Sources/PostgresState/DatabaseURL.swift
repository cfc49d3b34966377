import Foundation
import PostgresNIO
import TrackingServer

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A `database_url`: `postgresql://[USER[:PASSWORD]@][HOST][:PORT][/DATABASE][?PARAM=VALUE&…]`
/// (`postgres://` too), with libpq's meaning for the parts this project uses. Percent-encoding
/// is decoded in every part (write `#` in a password as `%23`: the configuration file treats
/// `#` as a comment).
///
/// - No host, or `?host=/DIR`: the Unix socket `DIR/.s.PGSQL.PORT` (default DIR
///   `/var/run/postgresql`, Debian's). `[::1]` for an IPv6 literal.
/// - `PORT` defaults to 5432, `USER` to the user running the process, `DATABASE` to `USER`.
/// - `sslmode`: `disable`, `prefer` (the default: TLS when the server offers it, certificate
///   not checked, as libpq), `require` (same, but TLS is a must), `verify-ca` (certificate
///   checked, host name not), `verify-full` (both, against the system trust store).
/// - `connect_timeout`: seconds (default 5), also the limit for each database operation.
/// - Also accepted: `user`, `password`, `dbname`, `port`. Any other parameter is an error, so a
///   typo cannot silently change what is used.
public struct DatabaseURL: Sendable, Hashable, CustomStringConvertible {
    /// TLS use, as libpq's `sslmode`.
    public enum TLSMode: String, Sendable, Hashable {
        /// No TLS.
        case disable
        /// TLS when the server offers it, certificate not checked.
        case prefer
        /// TLS required, certificate not checked.
        case require
        /// TLS required, certificate chain checked, host name not.
        case verifyCA = "verify-ca"
        /// TLS required, certificate and host name checked.
        case verifyFull = "verify-full"
    }

    /// TCP host name or address; nil for the Unix socket.
    public var host: String?
    /// Folder of the Unix socket when `host` is nil.
    public var socketDirectory = "/var/run/postgresql"
    /// Port (also names the Unix socket file).
    public var port = 5432
    /// Role name.
    public var user: String
    /// Password, if any.
    public var password: String?
    /// Database name.
    public var database: String
    /// TLS use (TCP only).
    public var tlsMode = TLSMode.prefer
    /// Seconds allowed to connect and for each operation.
    public var timeoutSeconds = 5

    /// The URL with the password left out (for messages and logs).
    public var description: String {
        let place = host.map { $0.contains(":") ? "[\($0)]" : $0 } ?? socketDirectory
        return "postgresql://\(user)@\(place):\(port)/\(database)"
    }

    /// Parses `text`; the error says which part is wrong (never repeating the password).
    public init(parsing text: String) throws(StoreError) {
        var rest = Substring(text)
        if rest.hasPrefix("postgresql://") {
            rest = rest.dropFirst("postgresql://".count)
        } else if rest.hasPrefix("postgres://") {
            rest = rest.dropFirst("postgres://".count)
        } else {
            throw StoreError("database_url must start with postgresql://")
        }
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var user: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = try Self.decode(credentials[..<colon], "user")
                password = try Self.decode(credentials[credentials.index(after: colon)...], "password")
            } else {
                user = try Self.decode(credentials, "user")
            }
        }
        // Host and port: `host`, `host:port`, `[v6]`, `[v6]:port`, `:port`, or nothing.
        var hostPart = rest
        var portPart: Substring?
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else {
                throw StoreError("database_url: unclosed '[' in the host")
            }
            let after = hostPart[hostPart.index(after: close)...]
            if after.hasPrefix(":") {
                portPart = after.dropFirst()
            } else if !after.isEmpty {
                throw StoreError("database_url: unexpected text after the host")
            }
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
        } else if let colon = hostPart.lastIndex(of: ":") {
            portPart = hostPart[hostPart.index(after: colon)...]
            hostPart = hostPart[..<colon]
        }
        if !hostPart.isEmpty { host = try Self.decode(hostPart, "host") }
        if let portPart { port = try Self.port(portPart) }
        var database = path.isEmpty ? nil : try Self.decode(path, "database name")
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let name: Substring
            let value: String
            if let equals = pair.firstIndex(of: "=") {
                name = pair[..<equals]
                value = try Self.decode(pair[pair.index(after: equals)...], "parameter")
            } else {
                name = pair
                value = ""
            }
            switch name {
            case "sslmode":
                // libpq's `allow` tries without TLS first: the same as `prefer` for a server that
                // offers none, and close enough otherwise.
                guard let mode = TLSMode(rawValue: value == "allow" ? "prefer" : value) else {
                    throw StoreError("database_url: sslmode must be disable, prefer, require, verify-ca or verify-full")
                }
                tlsMode = mode
            case "host":
                if value.hasPrefix("/") {
                    host = nil
                    socketDirectory = value
                } else {
                    host = value.isEmpty ? nil : value
                }
            case "port": port = try Self.port(Substring(value))
            case "user": user = value
            case "password": password = value
            case "dbname": database = value
            case "connect_timeout":
                guard let seconds = Int(value), (1...300).contains(seconds) else {
                    throw StoreError("database_url: connect_timeout must be 1 to 300 seconds")
                }
                timeoutSeconds = seconds
            default:
                throw StoreError("database_url: unknown parameter '\(name)'")
            }
        }
        let resolvedUser = user.flatMap { $0.isEmpty ? nil : $0 } ?? Self.processUser()
        self.user = resolvedUser
        self.database = database.flatMap { $0.isEmpty ? nil : $0 } ?? resolvedUser
    }

    /// The configuration of one connection.
    public func connectionConfiguration() throws(StoreError) -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let host {
            configuration = .init(
                host: host, port: port, username: user, password: password, database: database,
                tls: try connectionTLS())
        } else {
            configuration = .init(
                unixSocketPath: socketPath, username: user, password: password, database: database)
        }
        configuration.options.connectTimeout = .seconds(Int64(timeoutSeconds))
        return configuration
    }

    /// The configuration of a connection pool (`linkstamp serve`, `linkstamp smtpd`).
    public var clientConfiguration: PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let host {
            configuration = .init(
                host: host, port: port, username: user, password: password, database: database, tls: clientTLS)
        } else {
            configuration = .init(unixSocketPath: socketPath, username: user, password: password, database: database)
        }
        configuration.options.connectTimeout = .seconds(Int64(timeoutSeconds))
        return configuration
    }

    var socketPath: String { socketDirectory + "/.s.PGSQL.\(port)" }

    var tlsConfiguration: TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch tlsMode {
        case .disable, .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        return tls
    }

    func connectionTLS() throws(StoreError) -> PostgresConnection.Configuration.TLS {
        guard tlsMode != .disable else { return .disable }
        let context: NIOSSLContext
        do { context = try NIOSSLContext(configuration: tlsConfiguration) } catch {
            throw StoreError("cannot set up TLS for the database: \(error)")
        }
        return tlsMode == .prefer ? .prefer(context) : .require(context)
    }

    var clientTLS: PostgresClient.Configuration.TLS {
        switch tlsMode {
        case .disable: return .disable
        case .prefer: return .prefer(tlsConfiguration)
        default: return .require(tlsConfiguration)
        }
    }

    static func decode(_ text: Substring, _ part: String) throws(StoreError) -> String {
        guard let decoded = String(text).removingPercentEncoding else {
            throw StoreError("database_url: bad percent-encoding in the \(part)")
        }
        return decoded
    }

    static func port(_ text: Substring) throws(StoreError) -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw StoreError("database_url: the port must be a number from 1 to 65535")
        }
        return port
    }

    static func processUser() -> String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "postgres"
    }
}
