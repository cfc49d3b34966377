import Testing
@testable import SMTPAPI
@Test func moduleBuilds() {}
