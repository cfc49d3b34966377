import Foundation
import Linkstamp
import SMTPAPI

// STARTTLS (RFC 3207) and AUTH PLAIN/LOGIN (RFC 4954) of the ESMTP state machine: offered only
// when configured, AUTH only over TLS unless `smtpd_auth_allow_plaintext`; the password check
// itself is an action the server performs off the event loop.
extension SMTPServerSession {
    /// AUTH is listed in EHLO and accepted.
    var authOffered: Bool { security.auth && (tlsActive || security.authWithoutTLS) }

    mutating func startTLS(_ argument: Substring, into actions: inout [Action]) {
        guard !tlsActive else {
            actions += refuse(503, "5.5.1", "Error: TLS already active")
            return
        }
        guard argument.isEmpty else {
            actions += refuse(501, "5.5.4", "Syntax: STARTTLS")
            return
        }
        guard state == .connected || state == .ready else {
            actions += refuse(503, "5.5.1", "Error: MAIL transaction in progress")
            return
        }
        // RFC 3207 §4.2: forget everything learnt in plaintext, including what was pipelined
        // after STARTTLS (it must not be read as if it came over TLS).
        buffer = []
        readIndex = 0
        discardingLine = false
        resetTransaction()
        greeted = false
        authenticatedUser = nil
        state = .connected
        tlsActive = true
        actions.append(.send(line(220, "2.0.0", "Ready to start TLS")))
        actions.append(.startTLS)
    }

    mutating func auth(_ argument: Substring, into actions: inout [Action]) {
        if security.tlsRequired && !tlsActive {
            actions += refuse(530, "5.7.0", "Must issue a STARTTLS command first")
            return
        }
        guard authOffered else {
            actions += refuse(538, "5.7.11", "Encryption required for requested authentication mechanism")
            return
        }
        guard greeted else {
            actions += refuse(503, "5.5.1", "Error: send EHLO first")
            return
        }
        guard authenticatedUser == nil else {
            actions += refuse(503, "5.5.1", "Error: already authenticated")
            return
        }
        guard state == .ready else {
            actions += refuse(503, "5.5.1", "Error: MAIL transaction in progress")
            return
        }
        let words = argument.split(separator: " ", omittingEmptySubsequences: true)
        guard let mechanism = words.first, words.count <= 2 else {
            actions += refuse(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]")
            return
        }
        let initial = words.count == 2 ? words[1] : nil
        switch mechanism.uppercased() {
        case "PLAIN":
            guard let initial else {
                state = .auth
                authStep = .plain
                actions.append(.send(Array("334 \r\n".utf8)))
                return
            }
            // RFC 4954 §4: "=" is an empty initial response.
            plainResponse(initial == "=" ? "" : initial, into: &actions)
        case "LOGIN":
            guard let initial else {
                state = .auth
                authStep = .loginUser
                actions.append(.send(Array("334 VXNlcm5hbWU6\r\n".utf8)))  // "Username:"
                return
            }
            state = .auth
            authStep = .loginUser
            authResponse(ArraySlice(initial.utf8), into: &actions)
        default:
            actions += refuse(504, "5.5.4", "Error: unrecognized authentication type")
        }
    }

    /// One response line of an AUTH exchange.
    mutating func authResponse(_ bytes: ArraySlice<UInt8>, into actions: inout [Action]) {
        let text = String(decoding: bytes, as: UTF8.self)
        state = .ready
        if text == "*" {
            actions += refuse(501, "5.7.0", "Error: authentication cancelled")
            return
        }
        switch authStep {
        case .plain:
            plainResponse(Substring(text), into: &actions)
        case .loginUser:
            guard let decoded = SMTPServerSession.base64(text) else {
                actions += refuse(501, "5.5.2", "Error: cannot decode response")
                return
            }
            state = .auth
            authStep = .loginPassword(user: String(decoding: decoded, as: UTF8.self))
            actions.append(.send(Array("334 UGFzc3dvcmQ6\r\n".utf8)))  // "Password:"
        case .loginPassword(let user):
            guard let password = SMTPServerSession.base64(text) else {
                actions += refuse(501, "5.5.2", "Error: cannot decode response")
                return
            }
            verify(user: user, authorization: nil, password: password, into: &actions)
        }
    }

    /// `[authzid] NUL authcid NUL passwd` (RFC 4616), base64.
    mutating func plainResponse(_ text: Substring, into actions: inout [Action]) {
        guard let decoded = SMTPServerSession.base64(String(text)) else {
            actions += refuse(501, "5.5.2", "Error: cannot decode response")
            return
        }
        let parts = decoded.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            actions += refuse(501, "5.5.2", "Error: malformed PLAIN response")
            return
        }
        verify(
            user: String(decoding: parts[1], as: UTF8.self), authorization: String(decoding: parts[0], as: UTF8.self),
            password: Array(parts[2]), into: &actions)
    }

    mutating func verify(user: String, authorization: String?, password: [UInt8], into actions: inout [Action]) {
        state = .verifying
        verifyingUser = user
        // Acting for someone else is not supported; an unusable name is not looked up. Both still
        // go through the check's reply path, so they count as failures.
        let usable = SMTPCredentials.isValidUser(user) && (authorization.map { $0.isEmpty || $0 == user } ?? true)
        if !usable {
            state = .ready
            verifyingUser = nil
            authFailed(into: &actions)
            return
        }
        actions.append(.authenticate(user: user, password: password))
    }

    /// `535 5.7.8`, a refused command; the `maxAuthFailures`th closes the connection with `421`.
    mutating func authFailed(into actions: inout [Action]) {
        authFailures += 1
        guard authFailures < limits.maxAuthFailures else {
            errors += 1
            actions.append(.send(line(535, "5.7.8", "Error: authentication failed")))
            actions += closing(line(421, "4.7.0", "\(hostname) Error: too many authentication failures"))
            return
        }
        actions += refuse(535, "5.7.8", "Error: authentication failed")
    }

    /// Standard base64 as SASL uses it (padding required); `nil` when malformed.
    static func base64(_ text: String) -> [UInt8]? {
        if text.isEmpty { return [] }
        return Data(base64Encoded: text).map { Array($0) }
    }
}
