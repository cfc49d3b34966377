import Linkstamp
import Testing

/// The `smtpd_*` keys of the configuration file.
@Suite struct ConfigurationKeysTests {
    @Test func smtpdLimitsAreRead() throws {
        let configuration = try Configuration(
            parsing: """
                smtpd_max_connections = 7
                smtpd_idle_timeout_seconds = 5
                smtpd_max_messages_per_connection = 3
                smtpd_max_message_bytes = 1000
                smtpd_max_recipients = 2
                """)
        #expect(configuration.smtpdMaxConnections == 7)
        #expect(configuration.smtpdIdleTimeoutSeconds == 5)
        #expect(configuration.smtpdMaxMessagesPerConnection == 3)
        #expect(configuration.smtpdMaxMessageBytes == 1000)
        #expect(configuration.smtpdMaxRecipients == 2)
    }

    @Test func defaultsMatchTheServerLimits() {
        let configuration = Configuration()
        #expect(configuration.smtpdMaxConnections == 100)
        #expect(configuration.smtpdIdleTimeoutSeconds == 60)
        #expect(configuration.smtpdMaxMessagesPerConnection == 100)
        #expect(configuration.smtpdMaxMessageBytes == 20 << 20)
        #expect(configuration.smtpdMaxRecipients == 1000)
    }

    @Test func badValuesAreRefusedWithTheirLine() {
        let error = #expect(throws: ConfigurationError.self) {
            try Configuration(parsing: "# limits\nsmtpd_max_recipients = 0\n")
        }
        #expect(error?.line == 2)
        #expect(error?.message == "'smtpd_max_recipients' must be a positive whole number")
        #expect(throws: ConfigurationError.self) { try Configuration(parsing: "smtpd_idle_timeout_seconds = soon") }
    }
}
