import Foundation
import Linkstamp
import NIOSSL

/// STARTTLS's server side: the certificate chain and key from the configuration.
public enum SMTPDoorTLS {
    /// A server context from PEM files (`smtpd_tls_certificate`: the certificate, then any
    /// intermediates; `smtpd_tls_key`: its private key). TLS 1.2 is the oldest version offered.
    /// Throws a readable `SMTPSetupError` when a file is missing, unreadable or not PEM, or when
    /// the key does not belong to the certificate.
    public static func serverContext(certificatePath: String, keyPath: String) throws(SMTPSetupError) -> NIOSSLContext {
        guard let certificateData = FileManager.default.contents(atPath: certificatePath) else {
            throw SMTPSetupError("cannot read TLS certificate '\(certificatePath)'")
        }
        guard let keyData = FileManager.default.contents(atPath: keyPath) else {
            throw SMTPSetupError("cannot read TLS key '\(keyPath)'")
        }
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMBytes(Array(certificateData)) } catch {
            throw SMTPSetupError("TLS certificate '\(certificatePath)' is not a PEM certificate: \(error)")
        }
        guard !chain.isEmpty else {
            throw SMTPSetupError("TLS certificate '\(certificatePath)' holds no PEM certificate")
        }
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(bytes: Array(keyData), format: .pem) } catch {
            throw SMTPSetupError("TLS key '\(keyPath)' is not a PEM private key: \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        do { return try NIOSSLContext(configuration: configuration) } catch {
            throw SMTPSetupError(
                "TLS certificate '\(certificatePath)' and key '\(keyPath)' cannot be used together: \(error)")
        }
    }
}

extension SMTPDoorServer.Settings {
    /// Sets STARTTLS and AUTH from the configuration's `smtpd_tls_*`, `smtpd_credentials` and
    /// `smtpd_auth_*` keys: reads the certificate, key and credentials file now, and refuses
    /// combinations that cannot work (a certificate without its key, `smtpd_tls_required` without
    /// a certificate, `smtpd_auth_required` without credentials, credentials that could never be
    /// offered because there is neither TLS nor `smtpd_auth_allow_plaintext`). The authenticator
    /// it starts is shut down by `SMTPDoorServer.shutdown`.
    public mutating func configureSecurity(from configuration: Configuration) throws(SMTPSetupError) {
        switch (configuration.smtpdTLSCertificatePath, configuration.smtpdTLSKeyPath) {
        case (let certificate?, let key?):
            tls = try SMTPDoorTLS.serverContext(certificatePath: certificate, keyPath: key)
        case (nil, nil):
            tls = nil
        default:
            throw SMTPSetupError("smtpd_tls_certificate and smtpd_tls_key must be set together")
        }
        if configuration.smtpdTLSRequired && tls == nil {
            throw SMTPSetupError("smtpd_tls_required needs smtpd_tls_certificate and smtpd_tls_key")
        }
        tlsRequired = configuration.smtpdTLSRequired
        authWithoutTLS = configuration.smtpdAuthAllowPlaintext
        authRequired = configuration.smtpdAuthRequired
        guard let path = configuration.smtpdCredentialsPath else {
            if authRequired { throw SMTPSetupError("smtpd_auth_required needs smtpd_credentials") }
            authenticator = nil
            return
        }
        let credentials = try SMTPCredentials(contentsOf: path)
        guard !credentials.users.isEmpty else { throw SMTPSetupError("credentials file '\(path)' lists no user") }
        guard tls != nil || authWithoutTLS else {
            throw SMTPSetupError(
                "smtpd_credentials needs STARTTLS (smtpd_tls_certificate, smtpd_tls_key) to offer AUTH, "
                    + "or smtpd_auth_allow_plaintext = true")
        }
        authenticator = SMTPAuthenticator(credentials: credentials)
    }
}
