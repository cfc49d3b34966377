import Testing
@testable import Linkstamp
@Test func moduleBuilds() {}
