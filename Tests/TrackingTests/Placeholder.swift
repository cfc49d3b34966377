import Testing
@testable import Tracking
@Test func moduleBuilds() {}
